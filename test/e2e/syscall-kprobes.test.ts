// kprobes, kretprobes and fentry/fexit programs on syscall entry functions (__x64_sys_<name>): a
// kernel calls them between the sys_enter and sys_exit tracepoints, with the task's user
// registers as the only argument, and stock tools put probes there (bcc's syscall__ functions and
// its kfunc opensnoop, libbpf's ksyscall, bpftrace's kprobe:/kfunc:__x64_sys_*). Under the shim
// the agent's syscall interception runs them (src-native/agent/syscall_tp.c): stock bpftrace reads
// the arguments through the registers, sees the return value, runs in the kernel's order and
// injects an error with override(); bcc's killsnoop, execsnoop, opensnoop and statsnoop print
// what they print on a kernel. Where the kernel has kprobes (this test machine's 6.18 has none:
// CONFIG_KPROBES is off, and it refuses fentry programs), the same runs give the reference.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, stopServer, tmpRuntimeDir } from './harness';
import { buildC, kernelToolsUsable, runWorkload, waitLines } from './tools';
import { bccMissing, doneLine, sbin, shimAndKernel } from './bcc-scenario';

/** Why the kernel cannot give a reference for kprobes, or false. */
function kernelKprobesMissing(): string | false {
  const tools = kernelToolsUsable();
  if (tools) return tools;
  if (!fs.existsSync('/sys/bus/event_source/devices/kprobe/type')) return 'the kernel has no kprobes (CONFIG_KPROBES is off): no kernel reference';
  return false;
}

const WORKLOAD = `#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	(void)getppid(); /* the programs count from here: the loader's own opens come before */
	int a = openat(AT_FDCWD, argv[1], O_RDONLY);
	int b = openat(AT_FDCWD, "/nonexistent-ksys", O_RDONLY | O_CLOEXEC);
	int c = kill(getpid(), 0);
	int e = c < 0 ? errno : 0;
	printf("done %d %d %d %d\\n", a >= 0, b, c, e);
	return 0;
}
`;

// Each line carries a sequence number taken in the program (one thread, so the numbers give the
// order the probes ran in, whatever CPU's perf buffer each line went through).
const ORDER_PROGRAM = `BEGIN { printf("ready\\n"); } ` +
  `tracepoint:syscalls:sys_enter_getppid /comm == "ksysw"/ { @on = 1; } ` +
  `tracepoint:syscalls:sys_enter_openat /comm == "ksysw" && @on/ { printf("%d tp-enter %s\\n", @n++, str(args->filename)); } ` +
  `kprobe:__x64_sys_openat /comm == "ksysw" && @on/ { $r = (struct pt_regs *)arg0; printf("%d kprobe %s flags 0x%x\\n", @n++, str(uptr($r->si)), $r->dx); } ` +
  `kretprobe:__x64_sys_openat /comm == "ksysw" && @on/ { printf("%d kretprobe %d\\n", @n++, (int64)retval >= 0 ? 1 : (int64)retval); } ` +
  `tracepoint:syscalls:sys_exit_openat /comm == "ksysw" && @on/ { printf("%d tp-exit %d\\n", @n++, args->ret >= 0 ? 1 : args->ret); } ` +
  `kprobe:__x64_sys_kill /comm == "ksysw" && @on/ { $r = (struct pt_regs *)arg0; printf("%d kill sig %d self %d\\n", @n++, $r->si, $r->di == pid); }`;

function orderExpected(file: string): string[] {
  return [
    `0 tp-enter ${file}`, `1 kprobe ${file} flags 0x0`, '2 kretprobe 1', '3 tp-exit 1',
    '4 tp-enter /nonexistent-ksys', '5 kprobe /nonexistent-ksys flags 0x80000', '6 kretprobe -2', '7 tp-exit -2',
    '8 kill sig 0 self 1',
  ];
}

// bpf_override_return at the entry function: the syscall does not run and returns the value;
// its sys_exit tracepoint still fires, with that value (error injection on a kernel).
const OVERRIDE_PROGRAM = `BEGIN { printf("ready\\n"); } ` +
  `kprobe:__x64_sys_kill /comm == "ksysw"/ { override(-1); printf("overridden\\n"); } ` +
  `tracepoint:syscalls:sys_exit_kill /comm == "ksysw"/ { printf("exit %d\\n", args->ret); }`;

async function observe(tool: Proc, run: () => void, lines: RegExp, n: number): Promise<string[]> {
  try {
    await tool.waitFor(/^ready\r?$/m, 60000);
    run();
    return (await waitLines(tool, lines, n)).map((l) => l.replace(/\r$/, ''));
  } finally {
    await tool.stop('SIGINT');
  }
}

// kfunc/kretfunc (fentry/fexit) on the same function: the wrapper's argument is args->regs (BTF),
// kretfunc also sees retval.
const KFUNC_PROGRAM = `BEGIN { printf("ready\\n"); } ` +
  `tracepoint:syscalls:sys_enter_getppid /comm == "ksysw"/ { @on = 1; } ` +
  `kfunc:__x64_sys_openat /comm == "ksysw" && @on/ { printf("kfunc %s flags 0x%x\\n", str(uptr(args->regs->si)), args->regs->dx); } ` +
  `kretfunc:__x64_sys_openat /comm == "ksysw" && @on/ { printf("kretfunc %s %d\\n", str(uptr(args->regs->si)), (int64)retval >= 0 ? 1 : (int64)retval); }`;

/**
 * A target for the bcc scenarios: prints "ready pid=N", then for each line of stdin (in `line`,
 * without its newline) runs body and prints done (printf's arguments). includes: headers beyond
 * stdio.h, string.h and unistd.h ("<x.h>"; a "#define" line goes first); before: code above main.
 */
function lineTarget(t: { includes: string[]; before?: string; body: string; done: string }): string {
  const defines = t.includes.filter((i) => i.startsWith('#define'));
  const headers = ['<stdio.h>', '<string.h>', '<unistd.h>', ...t.includes.filter((i) => !i.startsWith('#define'))];
  const indent = (code: string) => code.split('\n').map((l) => (l ? `\t\t${l}` : l)).join('\n');
  return [...defines, ...[...new Set(headers)].sort().map((h) => `#include ${h}`), t.before ?? '',
    'int main(int argc, char **argv)', '{', '\tchar line[64];', '\t(void)argc;', '\t(void)argv;',
    '\tprintf("ready pid=%d\\n", getpid());', '\tfflush(stdout);', '\twhile (fgets(line, sizeof line, stdin)) {',
    '\t\tline[strcspn(line, "\\n")] = 0;', indent(t.body), `\t\tprintf(${t.done});`, '\t\tfflush(stdout);', '\t}', '\treturn 0;', '}', ''].join('\n');
}

const bpftraceSkip = (!haveCommand('bpftrace') || !haveCommand('cc')) && 'needs bpftrace and cc';

/** Runs a bpftrace program against the workload under the shim and, where the kernel has
 * kprobes, on the kernel; returns both sets of lines (null: no kernel reference). */
async function bothWays(t: { diagnostic: (s: string) => void }, argv: string[], lines: RegExp, n: number, check: (out: string) => void): Promise<{ ours: string[]; kernel: string[] | null }> {
  const bin = buildC('ksysw', WORKLOAD); // its name is the comm the programs filter on
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ksys-')), 'f');
  fs.writeFileSync(file, 'x');
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let ours: string[];
  try {
    ours = await observe(new Proc(process.execPath, [cli, 'load', 'bpftrace', ...argv], env), () => check(runWorkload(env, [bin, file]).out), lines, n);
  } finally {
    stopServer(dir);
  }
  const noKernel = kernelKprobesMissing();
  if (noKernel) {
    t.diagnostic(noKernel);
    return { ours, kernel: null };
  }
  const kernel = await observe(new Proc('bpftrace', argv, process.env), () => check(runWorkload(undefined, [bin, file]).out), lines, n);
  return { ours, kernel };
}

test('bpftrace kprobe/kretprobe on __x64_sys_*: arguments through the user registers, the return value, in the kernel order between the tracepoints', { skip: bpftraceSkip, timeout: 180000 }, async (t) => {
  let file = '';
  const r = await bothWays(t, ['-e', ORDER_PROGRAM], /^\d+ (tp-|kprobe|kretprobe|kill)/, 9, (out) => {
    assert.match(out, /done 1 -1 0 0/);
  });
  const sorted = (ls: string[]) => ls.slice().sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  file = /^0 tp-enter (\S+)$/m.exec(sorted(r.ours).join('\n'))?.[1] ?? '';
  assert.match(file, /ksys-.*\/f$/);
  assert.deepEqual(sorted(r.ours), orderExpected(file));
  if (r.kernel) assert.deepEqual(sorted(r.kernel).map((l) => l.replace(/\/tmp\/ksys-\w+\/f/, file)), orderExpected(file), 'the kernel prints the same');
});

test('bpftrace override() at kprobe:__x64_sys_kill: the syscall fails with that value without running, its exit tracepoint sees it', { skip: bpftraceSkip, timeout: 180000 }, async (t) => {
  const r = await bothWays(t, ['--unsafe', '-e', OVERRIDE_PROGRAM], /^(overridden|exit )/, 2, (out) => {
    // kill(getpid(), 0) returned -1 with errno EPERM (1): -1 is -EPERM
    assert.match(out, /done 1 -1 -1 1/);
  });
  assert.deepEqual(r.ours, ['overridden', 'exit -1']);
  if (r.kernel) assert.deepEqual(r.kernel, r.ours, 'the kernel prints the same');
});

test('bpftrace kfunc/kretfunc (fentry/fexit) on __x64_sys_openat: the user registers through args->regs, and retval', { skip: bpftraceSkip, timeout: 180000 }, async (t) => {
  const r = await bothWays(t, ['-e', KFUNC_PROGRAM], /^k(ret)?func /, 4, (out) => {
    assert.match(out, /done 1 -1 0 0/);
  });
  const file = /^kfunc (\S+) flags 0x0$/m.exec(r.ours.join('\n'))?.[1] ?? '';
  assert.match(file, /ksys-.*\/f$/);
  assert.deepEqual(r.ours, [`kfunc ${file} flags 0x0`, `kretfunc ${file} 1`, 'kfunc /nonexistent-ksys flags 0x80000', 'kretfunc /nonexistent-ksys -2']);
  if (r.kernel) assert.deepEqual(r.kernel.map((l) => l.replace(/\/tmp\/ksys-\w+\/f/, file)), r.ours, 'the kernel prints the same');
});

const bccSkip = bccMissing();

test('killsnoop-bpfcc (kprobe and kretprobe on __x64_sys_kill): each kill with its signal, target and result', { skip: bccSkip, timeout: 240000 }, async (t) => {
  await shimAndKernel(t, {
    target: [buildC('ksyskill', KILLER)],
    tool: [sbin('killsnoop-bpfcc'), '-p', '{PID}'],
    ready: /^TIME\s+PID\s+COMM\s+SIG\s+TPID\s+RESULT/m,
    untilPolling: true,
    steps: ['x', 'y'],
    done: (s) => new RegExp(`^done ${s} 0 -1$`, 'm'),
    until: (out) => (out.match(/ksyskill/g) ?? []).length >= 4,
    kernelSkip: kernelKprobesMissing,
  }, (out, pid) => {
    const rows = [...out.matchAll(/^\d\d:\d\d:\d\d\s+(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s*$/gm)].map((m) => [Number(m[1]) === pid ? 'PID' : m[1], m[2], m[3], Number(m[4]) === pid ? 'PID' : m[4], m[5]].join(' '));
    // kill(self, 0) = 0; kill(999999, SIGUSR1) = -ESRCH (-3), twice. Sorted: the events come
    // through one perf buffer per CPU, read CPU by CPU (a kernel's too), so a process that moved
    // to another CPU between two kills can have them printed out of order.
    rows.sort();
    assert.deepEqual(rows, ['PID ksyskill 0 PID 0', 'PID ksyskill 0 PID 0', 'PID ksyskill 10 999999 -3', 'PID ksyskill 10 999999 -3']);
    return rows;
  });
});

const KILLER = lineTarget({
  includes: ['<signal.h>'],
  body: `int a = kill(getpid(), 0);
int b = kill(999999, SIGUSR1);`,
  done: '"done %s %d %d\\n", line, a, b',
});

test('execsnoop-bpfcc (kprobe and kretprobe on __x64_sys_execve): each exec with its arguments and result', { skip: bccSkip, timeout: 240000 }, async (t) => {
  await shimAndKernel(t, {
    target: [buildC('ksysexec', EXECER)],
    tool: [sbin('execsnoop-bpfcc'), '-x', '-T'],
    ready: /^TIME\s+PCOMM\s+PID\s+PPID\s+RET\s+ARGS/m,
    untilPolling: true,
    steps: ['x'],
    done: doneLine,
    until: (out) => /ksys-missing[^\n]*\n/.test(out), // the whole line (a SIGINT may split one)
    kernelSkip: kernelKprobesMissing,
  }, (out) => {
    const rows = [...out.matchAll(/^\d\d:\d\d:\d\d\s+(\S+)\s+\d+\s+\S+\s+(-?\d+)\s+(.*?)\s*$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).filter((r) => /ksys|true/.test(r));
    // the child execs /bin/true with two arguments (RET 0), then the parent a missing file (-2);
    // sorted, as the two processes' events may come through two CPUs' perf buffers
    rows.sort();
    assert.deepEqual(rows, ['ksysexec -2 /nonexistent/ksys-missing arg', 'true 0 /bin/true one two']);
    return rows;
  });
});

const EXECER = lineTarget({
  includes: ['<sys/wait.h>'],
  body: `pid_t c = fork();
if (c == 0) {
	execl("/bin/true", "/bin/true", "one", "two", (char *)0);
	_exit(127);
}
waitpid(c, 0, 0);
execl("/nonexistent/ksys-missing", "/nonexistent/ksys-missing", "arg", (char *)0);`,
  done: '"done x\\n"',
});

// bcc picks fentry/fexit (its KFUNC_PROBE/KRETFUNC_PROBE) where the kernel has BTF and
// trampolines: opensnoop-bpfcc attaches an fexit program to __x64_sys_openat through
// BPF_RAW_TRACEPOINT_OPEN, reading the arguments from the user registers it is given.
test('opensnoop-bpfcc (fexit on __x64_sys_openat): each open with its fd or error and path', { skip: bccSkip, timeout: 240000 }, async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ksys-')), 'opened');
  fs.writeFileSync(file, 'x');
  await shimAndKernel(t, {
    target: [buildC('ksysopen', OPENER), file],
    tool: [sbin('opensnoop-bpfcc'), '-p', '{PID}'],
    ready: /^PID\s+COMM\s+FD\s+ERR\s+PATH/m,
    untilPolling: true,
    steps: ['x', 'y'],
    done: (s) => new RegExp(`^done ${s}$`, 'm'),
    until: (out) => (out.match(/ksys-missing/g) ?? []).length >= 2,
    kernelSkip: kernelKprobesMissing,
  }, (out, pid) => {
    const rows = [...out.matchAll(/^(\d+)\s+(\S+)\s+(-?\d+)\s+(\d+)\s+(\S+)\s*$/gm)].filter((m) => Number(m[1]) === pid)
      .map((m) => `${m[2]} ${Number(m[3]) >= 0 ? 'fd' : m[3]} ${m[4]} ${m[5].replace(file, 'FILE')}`);
    rows.sort(); // through two CPUs' perf buffers, maybe
    assert.deepEqual(rows, ['ksysopen -1 2 /nonexistent/ksys-missing', 'ksysopen -1 2 /nonexistent/ksys-missing', 'ksysopen fd 0 FILE', 'ksysopen fd 0 FILE']);
    return rows;
  });
});

const OPENER = lineTarget({
  includes: ['<fcntl.h>'],
  body: `int fd = open(argv[1], O_RDONLY);
if (fd >= 0)
	close(fd);
(void)open("/nonexistent/ksys-missing", O_RDONLY);`,
  done: '"done %s\\n", line',
});

// statsnoop-bpfcc probes __x64_sys_stat, which the kernel has and no x86-64 syscall calls (stat
// is newstat there): accepted, never runs. Its stat_entry takes the filename as the wrapper's
// first argument, which is the registers' address (kernel memory): the path it prints is empty,
// on a kernel too. statx, statfs and stat (newstat) each give one row with the result.
test('statsnoop-bpfcc (kprobes on stat syscall functions, one of which no syscall calls): one row per call with its result', { skip: bccSkip, timeout: 240000 }, async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ksys-')), 'statted');
  fs.writeFileSync(file, 'x');
  await shimAndKernel(t, {
    target: [buildC('ksysstat', STATTER), file],
    tool: [sbin('statsnoop-bpfcc'), '-p', '{PID}'],
    ready: /^PID\s+COMM\s+FD\s+ERR\s+PATH/m,
    untilPolling: true,
    steps: ['x'],
    done: () => /^done x 0 -1 -1$/m,
    until: (out) => (out.match(/ksysstat/g) ?? []).length >= 3,
    kernelSkip: kernelKprobesMissing,
  }, (out, pid) => {
    const rows = [...out.matchAll(/^(\d+)[ \t]+(\S+)[ \t]+(-?\d+)[ \t]+(\d+)[ \t]*([^\n]*?)[ \t]*$/gm)].filter((m) => Number(m[1]) === pid).map((m) => `${m[2]} ${m[3]} ${m[4]} [${m[5]}]`);
    rows.sort();
    assert.deepEqual(rows, ['ksysstat -1 2 []', 'ksysstat -1 2 []', 'ksysstat 0 0 []']);
    return rows;
  });
});

const STATTER = lineTarget({
  includes: ['#define _GNU_SOURCE', '<fcntl.h>', '<sys/stat.h>', '<sys/statfs.h>', '<sys/syscall.h>'],
  body: `struct statx stx;
struct statfs sfs;
struct stat st;
long a = syscall(SYS_statx, AT_FDCWD, argv[1], 0, STATX_BASIC_STATS, &stx);
long b = syscall(SYS_statfs, "/nonexistent/ksys-missing", &sfs);
long c = syscall(SYS_stat, "/nonexistent/ksys-missing", &st);`,
  done: '"done x %ld %ld %ld\\n", a, b, c',
});

test('syncsnoop-bpfcc (kprobe on __x64_sys_sync): one line per sync()', { skip: bccSkip, timeout: 240000 }, async (t) => {
  await shimAndKernel(t, {
    target: [buildC('ksyssync', SYNCER)],
    tool: [sbin('syncsnoop-bpfcc')],
    ready: /^TIME\(s\)\s+CALL/m,
    untilPolling: true,
    steps: ['x', 'y', 'z'],
    done: (s) => new RegExp(`^done ${s}$`, 'm'),
    until: (out) => (out.match(/sync\(\)/g) ?? []).length >= 3,
    kernelSkip: kernelKprobesMissing,
  }, (out, _pid, mode) => {
    // traced processes only here: the target's three calls (a kernel's also shows other processes')
    const n = (out.match(/^[\d.]+\s+sync\(\)\s*$/gm) ?? []).length;
    if (mode === 'shim') assert.equal(n, 3);
    else assert.ok(n >= 3, `${n} sync() lines`);
    return 'the target\'s sync() calls';
  });
});

const SYNCER = lineTarget({
  includes: [],
  body: `sync();`,
  done: '"done %s\\n", line',
});

// deadlock-bpfcc: uprobes on pthread_mutex_lock/unlock in libc and a kretprobe on
// __x64_sys_clone; it finds the lock-order cycle of two threads taking two mutexes in opposite
// orders and prints each acquisition's user stack (it runs objdump through Python's subprocess,
// whose vfork child closes every fd: the tool's maps must survive that, see vfork-close.test.ts).
// glibc creates threads with clone3, which it does not probe: "Could not find stack trace where
// Thread N was created", as on a kernel.
test('deadlock-bpfcc finds a lock inversion and prints where each mutex was taken', { skip: bccSkip, timeout: 240000 }, async (t) => {
  await shimAndKernel(t, {
    target: [buildC('ksyslock', INVERTER, ['-pthread'])],
    tool: [sbin('deadlock-bpfcc'), '{PID}', '--binary', '/lib/x86_64-linux-gnu/libc.so.6'],
    ready: /^Tracing\.\.\. Hit Ctrl-C to end\./m,
    steps: ['x'],
    done: doneLine,
    until: (out) => (out.match(/^Could not find stack trace where Thread \d+ was created/gm) ?? []).length >= 2,
    kernelSkip: kernelKprobesMissing,
  }, (out) => {
    assert.match(out, /^Potential Deadlock Detected!/m);
    assert.match(out, /^Cycle in lock order graph: Mutex M0 \(0x[0-9a-f]+\) => Mutex M1 \(0x[0-9a-f]+\) => Mutex M0 \(0x[0-9a-f]+\)/m);
    // four acquisitions, each with its stack starting in pthread_mutex_lock
    const heads = out.match(/^(Mutex M[01] \(0x[0-9a-f]+\) (acquired here while holding|previously acquired by the same)[^\n]*)\n@ [0-9a-f]+ b'__GI___pthread_mutex_lock'$/gm) ?? [];
    assert.equal(heads.length, 4, out);
    return 'a two-mutex cycle with four stacks';
  });
});

const INVERTER = lineTarget({
  includes: ['<pthread.h>'],
  before: `static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static void *ab(void *p)
{
	pthread_mutex_lock(&a);
	pthread_mutex_lock(&b);
	pthread_mutex_unlock(&b);
	pthread_mutex_unlock(&a);
	return p;
}
static void *ba(void *p)
{
	pthread_mutex_lock(&b);
	pthread_mutex_lock(&a);
	pthread_mutex_unlock(&a);
	pthread_mutex_unlock(&b);
	return p;
}`,
  body: `pthread_t t;
pthread_create(&t, 0, ab, 0); /* one after the other: an inversion, never a deadlock */
pthread_join(t, 0);
pthread_create(&t, 0, ba, 0);
pthread_join(t, 0);`,
  done: '"done %s\\n", line',
});

test('shmsnoop-bpfcc (kprobes on the System V shared memory syscalls): each call with its arguments and result', { skip: bccSkip, timeout: 240000 }, async (t) => {
  await shimAndKernel(t, {
    target: [buildC('ksysshm', SHMER)],
    tool: [sbin('shmsnoop-bpfcc'), '-p', '{PID}'],
    ready: /^PID\s+COMM\s+SYS\s+RET\s+ARGs/m,
    untilPolling: true,
    steps: ['x'],
    done: (s) => new RegExp(`^done ${s} \\d+$`, 'm'),
    until: (out) => /SHMCTL[^\n]*\n/.test(out), // the whole line (a SIGINT may split one)
    kernelSkip: kernelKprobesMissing,
  }, (out, pid) => {
    const rows = [...out.matchAll(/^(\d+)\s+(\S+)\s+(SHM\w+)\s+(\S+)\s+(.*?)\s*$/gm)].filter((m) => Number(m[1]) === pid)
      .map((m) => `${m[3]} ${m[4]} ${m[5]}`.replace(/[0-9a-f]{12}\b/g, 'ADDR').replace(/shmid: 0x[0-9a-f]+/, 'shmid: ID'));
    assert.deepEqual(rows, [
      'SHMGET ID key: 0x0, size: 4096, shmflg: 0x380 (IPC_CREAT|0600)'.replace('ID', rows[0]?.split(' ')[1] ?? ''),
      'SHMAT ADDR shmid: ID, shmaddr: 0x0, shmflg: 0x0',
      'SHMDT 0 shmaddr: 0xADDR',
      'SHMCTL 0 shmid: ID, cmd: 0, buf: 0x0',
    ]);
    return rows.slice(1);
  });
});

const SHMER = lineTarget({
  includes: ['<sys/ipc.h>', '<sys/shm.h>'],
  body: `int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
void *p = shmat(id, 0, 0);
shmdt(p);
shmctl(id, IPC_RMID, 0);`,
  done: '"done %s %d\\n", line, id',
});

// mountsnoop-bpfcc: kprobes and kretprobes on __x64_sys_mount and __x64_sys_umount (root: the
// target mounts a tmpfs). Its MNT_NS column reads task->nsproxy at the offsets of the headers bcc
// compiles against, not the running kernel's: not compared.
test('mountsnoop-bpfcc (kprobes on __x64_sys_mount/umount): each call with its arguments and result', { skip: bccSkip || (!isRoot && 'mounting needs root'), timeout: 240000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ksys-mnt-'));
  await shimAndKernel(t, {
    target: [buildC('ksysmnt', MOUNTER), dir],
    tool: [sbin('mountsnoop-bpfcc')],
    ready: /^COMM\s+PID\s+TID\s+MNT_NS\s+CALL/m,
    untilPolling: true,
    steps: ['x'],
    done: () => /^done x 0 0 -1$/m,
    until: (out) => (out.match(/^ksysmnt .*umount/gm) ?? []).length >= 2,
    kernelSkip: kernelKprobesMissing,
  }, (out) => {
    const rows = [...out.matchAll(/^ksysmnt\s+\d+\s+\d+\s+\d+\s+(.*?)\s*$/gm)].map((m) => m[1].replace(dir, 'DIR'));
    assert.deepEqual(rows, [
      'mount("none", "DIR", "tmpfs", MS_NOSUID, "size=64k") = 0',
      'umount("DIR", 0x0) = 0',
      'umount("DIR", 0x0) = -EINVAL',
    ]);
    return rows;
  });
});

const MOUNTER = lineTarget({
  includes: ['<sys/mount.h>'],
  body: `int a = mount("none", argv[1], "tmpfs", MS_NOSUID, "size=64k");
int b = umount2(argv[1], 0);
int c = umount2(argv[1], 0); /* not mounted any more */`,
  done: '"done %s %d %d %d\\n", line, a, b, c',
});
