// Which syscalls of a process started after the tool a syscall tracepoint sees. On the kernel:
// every one from execve on, including the dynamic loader's (mmap, openat of ld.so.cache and each
// library) and libc's start-up (set_tid_address, rseq, ...), which run before any constructor. Under
// bpftime the agent's constructor is the first code of ours to run, so those cannot be seen (see
// docs/attach.md); from there on the two must agree exactly, and the agent's own start (its thread,
// its wait for the attachments) must not show. Stock bpftrace prints the syscall ids of the victim;
// the lines from its getppid() marker at the top of main on must be the kernel's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, root, stopServer, tmpRuntimeDir } from './harness';

const program =
  'BEGIN { printf("ready\\n"); } ' +
  'tracepoint:raw_syscalls:sys_enter /comm == "early_victim"/ { printf("enter %d\\n", args->id); } ' +
  'tracepoint:raw_syscalls:sys_exit /comm == "early_victim"/ { printf("exit %d %d\\n", args->id, args->ret >= 0 ? 0 : args->ret); }';
const SYS_getppid = 110;
const SYS_execve = 59;

async function trace(tool: Proc, runVictim: () => Promise<void>): Promise<string[]> {
  try {
    await tool.waitFor(/^ready$/m, 30000);
    await runVictim();
    await tool.waitFor(/^enter 231$/m, 15000); // exit_group
    await new Promise((r) => setTimeout(r, 200));
    await tool.stop('SIGINT');
    return tool.out.split('\n').filter((l) => /^(enter|exit) /.test(l));
  } finally {
    await tool.stop('SIGKILL');
  }
}

/** The lines from main's getppid() on. */
function fromMain(lines: string[]): string[] {
  const i = lines.indexOf(`enter ${SYS_getppid}`);
  assert.ok(i >= 0, `no getppid marker in:\n${lines.join('\n')}`);
  return lines.slice(i);
}

const canKernel = haveCommand('bpftrace') && isRoot && fs.existsSync('/sys/kernel/tracing/events/raw_syscalls/sys_enter');

test('a target started after the tool: every syscall from the agent constructor on, none of the agent\'s own, the same as the kernel from main on', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!haveCommand('cc') && 'no C compiler'), timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const victim = path.join(dir, 'early_victim');
  execFileSync('cc', ['-O2', '-o', victim, path.join(root, 'test', 'programs', 'early_victim.c')]);
  const env = bpftimeEnv(dir);
  try {
    const ours = await trace(new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', program], env), async () => {
      const v = new Proc(process.execPath, [cli, 'start', victim], env);
      assert.equal(await v.exited, 0, v.out);
    });
    // The exec's exit (reported in the new image, as the kernel does), then main: the agent's
    // constructor was the only code running after the loader's and libc's start-up (the victim has
    // no constructors of its own), and nothing of it may show.
    assert.deepEqual(ours.slice(0, 2), [`exit ${SYS_execve} 0`, `enter ${SYS_getppid}`], `ours:\n${ours.join('\n')}`);
    if (!canKernel) return;
    const kernel = await trace(new Proc('bpftrace', ['-e', program], process.env), async () => {
      const v = new Proc(victim, [], process.env);
      assert.equal(await v.exited, 0, v.out);
    });
    assert.equal(kernel[0], `exit ${SYS_execve} 0`);
    assert.ok(kernel.indexOf(`enter ${SYS_getppid}`) > 10, 'the kernel sees the loader and libc before main');
    assert.deepEqual(ours.slice(1), fromMain(kernel));
  } finally {
    stopServer(dir);
  }
});
