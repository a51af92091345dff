// Legacy uprobe events through <tracefs>/uprobe_events under the shim, against the kernel:
// - a sequence of writes (good, bad, duplicate, removals) gives the same answers, listings,
//   format files and available_events lines as on the kernel (test/programs/uprobe_events_seq.py);
// - a shell's `echo ... >> uprobe_events` (a write through a dup2'd stdout) makes and removes events;
// - bcc's own legacy path (test/programs/bcc_legacy_uprobe.py: libbcc writes the event, reads its
//   id, opens a tracepoint perf event on it) counts a victim's calls and returns, refuses removal
//   while attached (EBUSY) and cleans up at detach, as on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { root, tmpRuntimeDir } from './harness';
import { PY, TRACEFS, bccSkip, kernelSkip, shimEnv, toolOnVictim } from './uprobe-events-util';

const seqScript = path.join(root, 'test', 'programs', 'uprobe_events_seq.py');
const legacyScript = path.join(root, 'test', 'programs', 'bcc_legacy_uprobe.py');

/** A binary to probe, named with no '.', '-' or '_' (unnamed events are named after it). */
function binaryCopy(dir: string, name: string): string {
  const bin = path.join(dir, name);
  fs.copyFileSync('/bin/true', bin);
  fs.chmodSync(bin, 0o755);
  return bin;
}

test('uprobe_events writes: the kernel\'s answers, listings and format files', { skip: !fs.existsSync(PY) && 'no python3', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const prefix = `ue${process.pid}x`;
    const bin = binaryCopy(dir, `${prefix}bin`);
    const shim = execFileSync(PY, [seqScript, TRACEFS, bin, prefix], { env: shimEnv(dir), encoding: 'utf8' });
    // What the kernel answers for a few of them (the whole transcript is compared below).
    assert.match(shim, new RegExp(`^'p:uprobes/${prefix}1 ${bin}:0x1234' -> \\d+$`, 'm'));
    assert.match(shim, new RegExp(`^'p:uprobes/${prefix}1 ${bin}:0x1234' -> errno 17$`, 'm')); // the same probe again
    assert.match(shim, new RegExp(`^'x:${prefix}x ${bin}:0x10' -> errno 22$`, 'm'));
    assert.match(shim, new RegExp(`^'p:${prefix}x /nonexistent-${prefix}:0x10' -> errno 2$`, 'm'));
    assert.match(shim, new RegExp(`^'p:${prefix}x /tmp:0x10' -> errno 22$`, 'm'));
    assert.match(shim, /^'-:' -> errno 22$/m);
    assert.match(shim, new RegExp(`p:uprobes/p_${prefix}bin_0x1240 ${bin}:0x0000000000001240`));
    assert.match(shim, new RegExp(`p:${prefix}grp/${prefix}3 ${bin}:0x0000000000001250\\(0x10\\)`));
    assert.match(shim, /^uprobe_events: \[\]$/m); // all removed at the end
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    const kernel = execFileSync(PY, [seqScript, TRACEFS, bin, prefix], { encoding: 'utf8' });
    assert.equal(shim, kernel);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('uprobe_events from a shell: echo >> through a dup2\'d stdout', { timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const name = `sh${process.pid}x`;
    const bin = binaryCopy(dir, `${name}bin`);
    const script = [
      `echo 'p:${name} ${bin}:0x10' >> ${TRACEFS}/uprobe_events && echo made`,
      `echo 'p:${name} ${bin}:0x10' >> ${TRACEFS}/uprobe_events || echo again refused`,
      `grep ${name} ${TRACEFS}/uprobe_events`,
      `cat ${TRACEFS}/events/uprobes/${name}/enable`,
      `echo '-:${name}' >> ${TRACEFS}/uprobe_events && echo removed`,
      `grep -c ${name} ${TRACEFS}/uprobe_events; cat ${TRACEFS}/events/uprobes/${name}/id 2>/dev/null || echo gone`,
    ].join('\n');
    const run = (env?: NodeJS.ProcessEnv) => spawnSync('/bin/sh', ['-c', script], { env, encoding: 'utf8' }).stdout;
    const shim = run(shimEnv(dir));
    assert.equal(shim, `made\nagain refused\np:uprobes/${name} ${bin}:0x0000000000000010\n0\nremoved\n0\ngone\n`);
    // `>` opens with O_TRUNC, which removes every event (shim only: on the kernel it would
    // remove other users' events too)
    const trunc = spawnSync('/bin/sh', ['-c', [
      `echo 'p:${name}a ${bin}:0x10' >> ${TRACEFS}/uprobe_events`,
      `echo 'p:${name}b ${bin}:0x20' >> ${TRACEFS}/uprobe_events`,
      `grep -c ${name} ${TRACEFS}/uprobe_events`,
      `: > ${TRACEFS}/uprobe_events`,
      `grep -c ${name} ${TRACEFS}/uprobe_events`,
    ].join('\n')], { env: shimEnv(dir), encoding: 'utf8' }).stdout;
    assert.equal(trunc, '2\n0\n');
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    assert.equal(run(), shim);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bcc\'s legacy uprobe path: uprobe_events, event ids and tracepoint perf events', { skip: bccSkip, timeout: 240000 }, async (t) => {
  // bcc names events after the path and pids, and event names stop at 63 characters: keep it short
  const dir = fs.mkdtempSync('/tmp/bl');
  try {
    const victim = path.join(dir, 'v');
    execFileSync('cc', ['-O2', '-g', '-o', victim, path.join(root, 'test', 'programs', 'bcc_victim.c')]);
    const shim = await toolOnVictim('shim', legacyScript, victim);
    assert.match(shim, /^event: p:uprobes\/p_\S+_bcc_TOOLPID \S+:0x[0-9a-f]{16}$/m);
    assert.match(shim, /^event: r:uprobes\/r_\S+_bcc_TOOLPID \S+:0x[0-9a-f]{16}$/m);
    assert.equal(shim.match(/^removal while in use: EBUSY$/gm)?.length, 2);
    assert.match(shim, /^entries 5 returns 5 sum 110$/m); // bcc_add(i, 10i) = 11i for i < 5
    assert.match(shim, /^after detach: \[\]$/m);
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    assert.equal(shim, await toolOnVictim('kernel', legacyScript, victim));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('uprobe ref_ctr_offset rules: odd refused, one offset per probed place', { skip: spawnSync('sh', ['-c', 'command -v cc']).status !== 0 && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const prog = path.join(dir, 'uprobe_refctr');
    execFileSync('cc', ['-O2', '-o', prog, path.join(root, 'test', 'programs', 'uprobe_refctr.c')]);
    const bin = binaryCopy(dir, 'rcbin'); // a private file: no other tool probes it
    const type = (() => {
      try {
        return fs.readFileSync('/sys/bus/event_source/devices/uprobe/type', 'utf8').trim();
      } catch {
        return '7'; // what the server offers without sysfs
      }
    })();
    const shim = execFileSync(prog, [type, bin, '0x1000'], { env: shimEnv(dir), encoding: 'utf8' });
    assert.equal(shim, [
      'odd ref_ctr_offset: errno 22',
      'ref_ctr_offset 0: ok',
      'then 6 at the same place: errno 22',
      'then a return probe with 6: errno 22',
      'then 0 again: ok',
      '6 once those are closed: ok',
      '',
    ].join('\n'));
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    assert.equal(execFileSync(prog, [type, bin, '0x1000'], { encoding: 'utf8' }), shim);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
