// A long BPF_PROG_TEST_RUN (test/programs/test_run_long.c: 4 billion runs) must not hold up the
// server: while one tool waits for its run, stock bpftool in another process lists that very
// program. A signal to the waiting tool ends its run with EINTR, as the kernel's test run stops
// at a pending signal, and the server goes on answering it. Its output is compared with the
// kernel's for the same sequence. A tool killed while its run goes on leaves no run behind.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, haveCommand, root, shimLib, withServer } from './harness';

const haveTools = haveCommand('cc') && haveCommand('bpftool') && fs.existsSync('/usr/include/bpf/libbpf.h');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a process's main thread is doing (/proc/PID/syscall): the number of the syscall it is
 * blocked in, or "running". */
function state(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0].trim();
  } catch {
    return '';
  }
}

const SYS_recvmsg = '47';

/** Waits until the tool's call has reached the kernel or the server: under bpftime, blocked in
 * recvmsg() on the shim's socket, waiting for the answer; on the kernel, inside bpf() (running
 * the test run, so "running": it prints its start line right before the call). */
async function waitInCall(p: Proc, kernel: boolean): Promise<void> {
  const deadline = Date.now() + 15000;
  const want = kernel ? ['running', '321'] : [SYS_recvmsg];
  while (!want.includes(state(p.child.pid!))) {
    if (Date.now() > deadline || p.done) throw new Error(`the tool never waited in its test run:\n${p.out}`);
    await sleep(20);
  }
  await sleep(200); // the server has the CALL and has started the run
}

/** The scenario; env null: on the kernel. Returns the long-running tool's output. */
async function scenario(bin: string, env: NodeJS.ProcessEnv | null): Promise<string> {
  const toolEnv = env ? { ...env, LD_PRELOAD: shimLib } : process.env;
  const long = new Proc(bin, [], toolEnv);
  try {
    await long.waitFor(/long: started\n/);
    await waitInCall(long, env === null);
    // Another tool's bpf() calls are answered while the run goes on: bpftool finds the program.
    const show = spawnSync('bpftool', ['prog', 'show', 'name', 'long_run'], { env: toolEnv, encoding: 'utf8', timeout: 30000 });
    assert.equal(show.status, 0, `bpftool: ${show.stderr}`);
    assert.match(show.stdout, /^\d+: xdp {2}name long_run {2}tag [0-9a-f]{16} {2}gpl$/m);
    assert.doesNotMatch(long.out, /long: ret=/, 'the long run ended before the signal');
    process.kill(long.child.pid!, 'SIGUSR1');
    assert.equal(await long.exited, 0, long.out);
    return long.out;
  } finally {
    long.killGroup();
  }
}

test('a long test run leaves the server serving other tools; a signal ends it with EINTR (kernel as reference)', { skip: !haveTools && 'needs cc, bpftool and libbpf-dev', timeout: 180000 }, async (t) => {
  const out = fs.mkdtempSync(path.join(root, 'dist', 'test-run-long-'));
  const bin = path.join(out, 'test_run_long');
  try {
    execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(root, 'test', 'programs', 'test_run_long.c'), '-lbpf']);
    let shim = '';
    await withServer(async (env, dir) => {
      shim = await scenario(bin, env);

      // A tool killed while its run goes on: the run's process goes with it.
      const server = Number(fs.readFileSync(path.join(dir, 'server.pid'), 'utf8'));
      const victim = new Proc(bin, [], { ...env, LD_PRELOAD: shimLib });
      await victim.waitFor(/long: started\n/);
      await waitInCall(victim, false);
      const children = () => fs.readdirSync(`/proc/${server}/task`).flatMap((tid) =>
        fs.readFileSync(`/proc/${server}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
      assert.notDeepEqual(children(), [], 'the run should be in a child of the server');
      victim.killGroup();
      await victim.exited;
      const deadline = Date.now() + 10000;
      while (children().length && Date.now() < deadline) await sleep(50);
      assert.deepEqual(children(), [], 'the run of a killed tool goes on');
    });
    assert.match(shim, /^long: ret=-4 errno=4 \(Interrupted system call\) signals=1 retval=0$/m);
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
