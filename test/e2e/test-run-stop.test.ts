// SIGSTOP and SIGCONT to a tool waiting in a long BPF_PROG_TEST_RUN (test/programs/test_run_long.c).
// On the 6.18 kernel bpf_test_timer_continue() sees signal_pending() for the SIGSTOP too: the run
// ends with -EINTR, the task stops on its way out of bpf(), and after SIGCONT the call returns
// EINTR (no handler ran: signals=0). Under the shim the stop interrupts the wait in recvmsg() (a
// socket with SO_RCVTIMEO is never restarted after a stop, signal(7)), the shim sends CANCEL and
// the server answers EINTR. The tool's output must be the kernel's, line for line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, haveCommand, root, shimLib, withServer } from './harness';

const haveTools = haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Field 3 of /proc/PID/stat (R, S, T, ...) and the syscall number the task is blocked in. */
function stat(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[0];
  } catch {
    return '';
  }
}
function syscallOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0].trim();
  } catch {
    return '';
  }
}

/** Waits until the tool is inside its call: on the kernel in bpf() (321) or running it, under the
 * shim blocked in recvmsg() (47) waiting for the server's answer. */
async function waitInCall(p: Proc, kernel: boolean): Promise<void> {
  const deadline = Date.now() + 15000;
  const want = kernel ? ['running', '321'] : ['47'];
  while (!want.includes(syscallOf(p.child.pid!))) {
    if (Date.now() > deadline || p.done) throw new Error(`the tool never waited in its test run:\n${p.out}`);
    await sleep(20);
  }
  await sleep(300); // the server has the CALL and has started the run
}

async function scenario(bin: string, env: NodeJS.ProcessEnv | null): Promise<string> {
  const long = new Proc(bin, [], env ? { ...env, LD_PRELOAD: shimLib } : process.env);
  try {
    await long.waitFor(/long: started\n/);
    await waitInCall(long, env === null);
    const pid = long.child.pid!;
    process.kill(pid, 'SIGSTOP');
    const deadline = Date.now() + 10000;
    while (stat(pid) !== 'T' && Date.now() < deadline) await sleep(20);
    assert.equal(stat(pid), 'T', 'the tool did not stop');
    await sleep(500);
    assert.doesNotMatch(long.out, /long: ret=/, 'a stopped tool printed');
    process.kill(pid, 'SIGCONT');
    assert.equal(await long.exited, 0, long.out);
    return long.out;
  } finally {
    long.killGroup();
  }
}

test('SIGSTOP then SIGCONT ends a long test run with EINTR, as on the kernel', { skip: !haveTools && 'needs cc and libbpf-dev', timeout: 120000 }, async (t) => {
  const out = fs.mkdtempSync(path.join(root, 'dist', 'test-run-stop-'));
  const bin = path.join(out, 'test_run_long');
  try {
    execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(root, 'test', 'programs', 'test_run_long.c'), '-lbpf']);
    let shim = '';
    await withServer(async (env) => {
      shim = await scenario(bin, env);
    });
    assert.match(shim, /^long: ret=-4 errno=4 \(Interrupted system call\) signals=0 retval=0$/m);
    assert.match(shim, /^short: ret=0 errno=0 retval=2 data_size_out=64 duration>0=1$/m);

    const probe = spawnSync(bin, ['--probe'], { encoding: 'utf8' });
    if (process.getuid?.() !== 0 || /load failed/.test(probe.stdout)) {
      t.skip('kernel BPF unavailable: shim output not compared');
      return;
    }
    const kernel = await scenario(bin, null);
    assert.deepEqual(shim.split('\n'), kernel.split('\n'));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
