#!/usr/bin/env node
// Snapshots the syscall tracepoints of the running kernel's tracefs (events/syscalls/* and
// events/raw_syscalls/*: ids, fields, print formats) into src-ts/tracefs/syscall-events.json,
// with each syscall's number from the generated uapi tables (src-ts/uapi/syscalls.ts from the
// installed asm/unistd_64.h, syscalls_newer.ts for syscalls newer than it: see
// scripts/gen-uapi.js). The server serves its tracefs view from this snapshot, so tools see the
// same files whether or not a real tracefs is mounted. Run after a build (it uses dist/).
// Needs root and tracefs: mount -t tracefs nodev /sys/kernel/tracing
'use strict';
const fs = require('fs');
const path = require('path');

const TRACEFS = process.env.TRACEFS || '/sys/kernel/tracing';
const out = path.join(__dirname, '..', 'src-ts', 'tracefs', 'syscall-events.json');

function syscallNumbers() {
  const { SYSCALL_NR } = require('../dist/src-ts/uapi/syscalls.js');
  const { SYSCALL_NR_NEWER } = require('../dist/src-ts/uapi/syscalls_newer.js');
  return { ...SYSCALL_NR_NEWER, ...SYSCALL_NR };
}

/** Parses a format file into {id, fields, printFmt} and checks that format() gives it back. */
function parseFormat(text) {
  const id = Number(/^ID: (\d+)$/m.exec(text)[1]);
  const fields = [];
  for (const m of text.matchAll(/^\tfield:(.*);\toffset:(\d+);\tsize:(\d+);\tsigned:(\d+);$/gm)) {
    fields.push([m[1], Number(m[2]), Number(m[3]), Number(m[4])]);
  }
  const printFmt = /^print fmt: (.*)$/m.exec(text)[1];
  return { id, fields, printFmt };
}

// Events named after the kernel function where the syscall table names the syscall otherwise
// (arch/x86/entry/syscalls/syscall_64.tbl: "5 common fstat sys_newfstat").
const ENTRY_ALIASES = { newfstat: 'fstat', newlstat: 'lstat', newstat: 'stat', newuname: 'uname', sendfile64: 'sendfile', umount: 'umount2' };

function main() {
  const nrs = syscallNumbers();
  const events = [];
  for (const system of ['syscalls', 'raw_syscalls']) {
    const dir = path.join(TRACEFS, 'events', system);
    for (const name of fs.readdirSync(dir).sort()) {
      const f = path.join(dir, name, 'format');
      if (!fs.existsSync(f)) continue;
      const text = fs.readFileSync(f, 'utf8');
      const { id, fields, printFmt } = parseFormat(text);
      const sc = /^sys_(?:enter|exit)_(\w+)$/.exec(name);
      const sysName = sc ? ENTRY_ALIASES[sc[1]] ?? sc[1] : null;
      const nr = system === 'raw_syscalls' ? -1 : sysName && nrs[sysName] !== undefined ? nrs[sysName] : null;
      if (nr === null) throw new Error(`${system}/${name}: no syscall number for ${sysName} (regenerate src-ts/uapi/syscalls_newer.ts from a newer header: scripts/gen-uapi.js)`);
      events.push({ system, name, id, nr, fields, printFmt });
      // The server re-creates the file from these fields: make sure it is the same text.
      const { formatFile } = require('../dist/src-ts/tracefs/format.js');
      const again = formatFile(events[events.length - 1]);
      if (again !== text) throw new Error(`format of ${system}/${name} does not round-trip:\n${again}\n---\n${text}`);
    }
  }
  // The triggers the kernel was built with, as every event's trigger file lists them.
  const trigger = fs.readFileSync(path.join(TRACEFS, 'events', events[0].system, events[0].name, 'trigger'), 'utf8');
  fs.writeFileSync(out, JSON.stringify({ generatedBy: 'scripts/gen-tracefs.js', kernel: require('os').release(), trigger, events }) + '\n');
  console.log(`gen-tracefs: ${events.length} events -> ${path.relative(process.cwd(), out)}`);
}

main();
