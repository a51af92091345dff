// examples/ksyscall/unlinkguard, a libbpf tool with a SEC("ksyscall/unlinkat") program
// (BPF_KSYSCALL: libbpf probes for the syscall wrapper, and the program reads its arguments
// through the user registers with CO-RE reads of the kernel's struct pt_regs) that refuses
// deletions under a directory with bpf_override_return. Under the shim, `rm` started with
// `bpftime start` cannot delete the guarded file and deletes the other; the tool reports the
// refusal. On this test machine's kernel (no kprobes) the tool says why it cannot load.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, launcher, root, stopServer, tmpRuntimeDir } from './harness';

const tool = path.join(root, 'examples', 'ksyscall', 'unlinkguard');
const built = fs.existsSync(tool);

test('unlinkguard (ksyscall + bpf_override_return) keeps rm from deleting a guarded file', { skip: !built && 'examples not built', timeout: 60000 }, async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ug-'));
  const guarded = path.join(base, 'guarded');
  const free = path.join(base, 'free');
  fs.mkdirSync(guarded);
  fs.mkdirSync(free);
  fs.writeFileSync(path.join(guarded, 'keep'), 'x');
  fs.writeFileSync(path.join(free, 'drop'), 'x');
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let t: Proc | undefined;
  try {
    t = new Proc(process.execPath, [cli, 'load', tool, '-d', guarded], env);
    await t.waitFor(/^Guarding /m, 30000);
    const rm = spawnSync(launcher, ['start', 'rm', path.join(guarded, 'keep'), path.join(free, 'drop')], { env, encoding: 'utf8', timeout: 30000 });
    assert.notEqual(rm.status, 0, `${rm.stderr}\n${t.out}`);
    assert.match(rm.stderr, /rm: cannot remove '.*guarded\/keep': Operation not permitted/, t.out);
    assert.ok(fs.existsSync(path.join(guarded, 'keep')), 'the guarded file is still there');
    assert.ok(!fs.existsSync(path.join(free, 'drop')), 'the other file is gone');
    await t.waitFor(new RegExp(`^refused unlinkat\\("${guarded}/keep"\\) by rm\\[${'\\d+'}\\]$`, 'm'), 10000);
    await t.stop('SIGINT');
    // seen: every traced process's unlinkat calls (rm's two, and any other's)
    assert.match(t.out, /^seen=\d+ refused=1$/m);
  } finally {
    await t?.stop('SIGINT');
    stopServer(dir);
  }
});

test('on a kernel without kprobes, unlinkguard says why it cannot load', { skip: (!built || fs.existsSync('/sys/bus/event_source/devices/kprobe/type')) && 'examples not built, or the kernel has kprobes', timeout: 30000 }, () => {
  const r = spawnSync(tool, ['-d', os.tmpdir(), '-t', '1'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unlinkguard: cannot load or attach the program: .*\(a kernel needs kprobes and CONFIG_BPF_KPROBE_OVERRIDE/);
});
