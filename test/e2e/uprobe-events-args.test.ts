// Fetch arguments in uprobe_events, against the kernel's tracefs:
// - test/programs/uprobe_events_args.py writes probes with every kind of argument, type, name
//   and the kernel's refusals (EINVAL, E2BIG, ERANGE); the answers, the listing and every
//   event's format file (fields, offsets, print fmt) must be the kernel's, byte for byte;
// - test/programs/uprobe_events_args_attach.py puts BPF programs on hand-written probes that have
//   arguments (entry and return), through PERF_TYPE_TRACEPOINT perf events of a victim: the
//   programs count calls, sum arguments and return values as at any uprobe.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { root, tmpRuntimeDir } from './harness';
import { PY, TRACEFS, bccSkip, kernelSkip, shimEnv, toolOnVictim } from './uprobe-events-util';

const argsScript = path.join(root, 'test', 'programs', 'uprobe_events_args.py');
const attachScript = path.join(root, 'test', 'programs', 'uprobe_events_args_attach.py');

test('uprobe_events fetch arguments: the kernel\'s answers, listings and format files', { skip: !fs.existsSync(PY) && 'no python3', timeout: 120000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const group = `fa${process.pid}`;
    const bin = path.join(dir, 'fabin');
    fs.copyFileSync('/bin/true', bin);
    const shim = execFileSync(PY, [argsScript, TRACEFS, bin, group], { env: shimEnv(dir), encoding: 'utf8' });
    // A few of the kernel's answers (the whole transcript is compared below).
    assert.match(shim, new RegExp(`^p:${group}/e1 ${bin}:0x0000000000001234 arg1=%di:u64$`, 'm'));
    assert.match(shim, /^\tfield:u64 arg1;\toffset:16;\tsize:8;\tsigned:0;$/m);
    assert.match(shim, /^print fmt: "\(%lx\) arg1=%Lu", REC->__probe_ip, REC->arg1$/m);
    assert.match(shim, /^print fmt: "\(%lx\) s=\\"%s\\" u=\\"%s\\"", REC->__probe_ip, __get_str\(s\), __get_str\(u\)$/m);
    assert.match(shim, /^\tfield:__data_loc char\[\]\[2\] d;\toffset:25;\tsize:8;\tsigned:1;$/m);
    assert.match(shim, new RegExp(`^'p:${group}/e\\d+ ${bin}:0x1234 x=%rdi' -> errno 22$`, 'm'));
    assert.match(shim, new RegExp(`^'p:${group}/e\\d+ ${bin}:0x1234 a=\\+0xffffffffffffffff\\(%di\\)' -> errno 34$`, 'm'));
    assert.match(shim, /^left: \[\]$/m);
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    const kernel = execFileSync(PY, [argsScript, TRACEFS, bin, group], { encoding: 'utf8' });
    assert.deepEqual(shim.split('\n'), kernel.split('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('BPF programs on uprobe_events probes with fetch arguments run as at any uprobe', { skip: bccSkip, timeout: 240000 }, async (t) => {
  const dir = fs.mkdtempSync('/tmp/fa');
  try {
    const victim = path.join(dir, 'v');
    execFileSync('cc', ['-O2', '-g', '-o', victim, path.join(root, 'test', 'programs', 'bcc_victim.c')]);
    const shim = await toolOnVictim('shim', attachScript, victim, [`fb${process.pid}`], ['add 5', 'sub 3']);
    assert.match(shim, /^p:fb\d+\/ent VICTIM:OFF n=%di:s32 m=%si:s32 who=\$comm -> ok$/m);
    assert.match(shim, /^p:fb\d+\/ent VICTIM:SUBOFF n=%di:s32 m=%si:s32 who=\$comm -> ok$/m);
    assert.match(shim, /^listing: \['p:fb\d+\/ent VICTIM:0xOFF n=%di:s32 m=%si:s32 who=\$comm', 'p:fb\d+\/ent VICTIM:0xSUBOFF n=%di:s32 m=%si:s32 who=\$comm', 'r:fb\d+\/ret VICTIM:0xOFF rv=\$retval:s32 sp=\+0\(%sp\):x64'\]$/m);
    // entries at bcc_add (5) and other_sub (3, the appended probe); bcc_add(i, 10i) = 11i for i < 5;
    // second args 10i (i < 5) and 3i (i < 3)
    assert.match(shim, /^entries 8 returns 5 sum 110 second args 109$/m);
    assert.match(shim, /^after detach: \[\]$/m);
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    assert.equal(shim, await toolOnVictim('kernel', attachScript, victim, [`fb${process.pid}`], ['add 5', 'sub 3']));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
