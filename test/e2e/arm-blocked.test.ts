// A tool that attaches a syscall program to a running process arms each of its threads by a
// signal (Syscall User Dispatch is per thread). Threads asleep in sleep, clock_nanosleep, poll or
// epoll_wait must not wake early with EINTR because of it, as nothing wakes them on a kernel:
// test/programs/blocked_calls.c prints how each call ended, the same as untraced.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import { Proc, bpftimeEnv, cli, haveCommand, launcher, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram } from './syscall-program';

const EXPECTED = [
  'sleep: 0, whole time yes',
  'clock_nanosleep: 0, whole time yes',
  'poll: 0 errno 0, whole time yes',
  'epoll_wait: 0 errno 0, whole time yes',
];

test('threads blocked in sleeps and waits sleep their whole time when a tool attaches a syscall program meanwhile', { skip: (!haveCommand('cc') || !haveCommand('bpftrace')) && 'needs cc and bpftrace', timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('blocked_calls', dir, ['-lpthread']);
  const untraced = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  assert.deepEqual(untraced.stdout.trim().split('\n').slice(1), EXPECTED, 'untraced');
  const env = bpftimeEnv(dir);
  const target = new Proc(launcher, ['start', bin], env);
  let tool: Proc | undefined;
  try {
    await target.waitFor(/^ready$/m, 30000);
    // attached while the target's threads sleep (4 s; bpftrace is ready in about one)
    tool = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', 'tracepoint:syscalls:sys_enter_getppid { printf("getppid\\n"); }'], env);
    await tool.waitFor(/^getppid\r?$/m, 30000);
    await target.exited;
    assert.deepEqual(target.out.trim().split('\n').slice(1), EXPECTED, target.out);
  } finally {
    await tool?.stop('SIGINT');
    await target.stop('SIGTERM');
    stopServer(dir);
  }
});
