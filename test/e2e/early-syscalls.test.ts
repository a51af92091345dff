// Which syscalls of a process started after the tool a syscall tracepoint sees. On the kernel:
// every one from execve on, including the dynamic loader's (mmap, openat of ld.so.cache and each
// library) and libc's start-up, which run before any constructor. Under bpftime the agent's LD_AUDIT
// stage (src-native/early) records them from the moment the loader has loaded it, and the agent
// delivers them after the exec's exit, in order; the agent's own loading and start must not show.
// Not seen (docs/attach.md): the loader's first brk and mmap (before it loads audit modules) and its
// TLS set-up (arch_prctl, set_tid_address, set_robust_list, rseq), which a loader with an audit
// module does before loading it. Stock bpftrace prints the syscall ids of the victim; everything
// else must be the kernel's, from the exec's exit on.
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
const SYS_access = 21;
// arch_prctl, set_tid_address, set_robust_list, rseq
const TLS_SETUP = new Set([158, 218, 273, 334]);

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

test('a target started after the tool: the loader\'s and libc\'s syscalls and everything after, none of the agent\'s own, as on the kernel', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!haveCommand('cc') && 'no C compiler'), timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const victim = path.join(dir, 'early_victim');
  execFileSync('cc', ['-O2', '-o', victim, path.join(root, 'test', 'programs', 'early_victim.c')]);
  const env = bpftimeEnv(dir);
  try {
    const ours = await trace(new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', program], env), async () => {
      const v = new Proc(process.execPath, [cli, 'start', victim], env);
      assert.equal(await v.exited, 0, v.out);
    });
    // The exec's exit (reported in the new image, as the kernel does), then the loader's work from
    // its check of /etc/ld.so.preload on (openat of ld.so.cache and libc...), then main.
    assert.deepEqual(ours.slice(0, 2), [`exit ${SYS_execve} 0`, `enter ${SYS_access}`], `ours:\n${ours.join('\n')}`);
    assert.ok(ours.indexOf(`enter ${SYS_getppid}`) > 10, `the loader's calls are missing:\n${ours.join('\n')}`);
    if (!canKernel) return;
    const kernel = await trace(new Proc('bpftrace', ['-e', program], process.env), async () => {
      const v = new Proc(victim, [], process.env);
      assert.equal(await v.exited, 0, v.out);
    });
    assert.equal(kernel[0], `exit ${SYS_execve} 0`);
    const main = kernel.indexOf(`enter ${SYS_getppid}`);
    assert.ok(main > 10, 'the kernel sees the loader and libc before main');
    // What the audit stage cannot see: the loader's calls before its access(/etc/ld.so.preload),
    // and the TLS set-up, which the loader does before loading an audit module.
    const preload = kernel.indexOf(`enter ${SYS_access}`);
    const expected = [kernel[0], ...kernel.slice(preload, main).filter((l) => !TLS_SETUP.has(Number(l.split(' ')[1]))), ...kernel.slice(main)];
    assert.deepEqual(ours, expected);
    assert.deepEqual(ours.slice(ours.indexOf(`enter ${SYS_getppid}`)), fromMain(kernel));
  } finally {
    stopServer(dir);
  }
});

// A library constructor runs before the agent's (a program's libraries are initialised before a
// preloaded one), so the LD_AUDIT stage records it: a signal mask change (emulated on the
// handler's frame), a signal raised and handled (its handler's rt_sigreturn ends the recording,
// and is then made by the program itself) and a fork. The program must run as without bpftime;
// the recorded calls up to the signal are delivered, and from main on the trace is the kernel's.
test('a library constructor that blocks a signal, raises one and forks before the agent runs: same output, its calls up to the signal seen, main as on the kernel', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!haveCommand('clang') && 'no clang'), timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const lib = path.join(dir, 'libearly_ctor_lib.so');
  const victim = path.join(dir, 'early_ctor_victim');
  execFileSync('clang', ['-O2', '-g', '-shared', '-fPIC', '-o', lib, path.join(root, 'test', 'programs', 'early_ctor_lib.c')]);
  execFileSync('clang', ['-O2', '-g', '-o', victim, path.join(root, 'test', 'programs', 'early_ctor_victim.c'), `-L${dir}`, '-learly_ctor_lib', `-Wl,-rpath,${dir}`]);
  const prog = program.replaceAll('"early_victim"', '"early_ctor_vict"'); // comm: 15 characters
  const plain = execFileSync(victim, { encoding: 'utf8' });
  assert.match(plain, /^main: SIGUSR1 blocked=1 ready=1$/m);
  const env = bpftimeEnv(dir);
  try {
    let out = '';
    const ours = await trace(new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', prog], env), async () => {
      const v = new Proc(process.execPath, [cli, 'start', victim], env);
      assert.equal(await v.exited, 0, v.out);
      out = v.out;
    });
    assert.equal(out, plain);
    const main = ours.indexOf(`enter ${SYS_getppid}`);
    // rt_sigprocmask (14) and the tgkill (234) of raise, made before the agent ran.
    assert.ok(ours.slice(0, main).includes('enter 14') && ours.slice(0, main).includes('enter 234'), ours.join('\n'));
    if (!canKernel) return;
    const kernel = await trace(new Proc('bpftrace', ['-e', prog], process.env), async () => {
      const v = new Proc(victim, [], process.env);
      assert.equal(await v.exited, 0, v.out);
    });
    assert.deepEqual(ours.slice(main), fromMain(kernel));
  } finally {
    stopServer(dir);
  }
});
