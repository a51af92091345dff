// bpftrace's tracepoint wildcards under the shim: Debian's execsnoop.bt
// (tracepoint:syscalls:sys_enter_exec*) and syncsnoop.bt (sys_enter_sync_file_range*), run
// unmodified, expand their wildcards in the served tracefs (bpftrace globs
// <tracefs>/events/syscalls/<pattern>/format; the shim walks the server's view, so that
// /sys/kernel/debug/tracing works without debugfs and the real tracefs is never consulted). Each
// runs against a deterministic workload under bpftime start, and on the kernel with the same
// workload as the reference where the kernel path is available. `bpftrace -l` lists what the
// kernel lists.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { Proc, bpftimeEnv, cli, haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildC, kernelToolsUsable } from './tools';
import { queryStatus } from '../../src-ts/cli/status';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Mode = 'shim' | 'kernel';

const skip = (!haveCommand('bpftrace') && 'bpftrace not installed') || (!haveCommand('python3') && 'no python3');
const kernelSkip = kernelToolsUsable() || (spawnSync('bpftool', ['-j', 'prog', 'show']).status !== 0 && 'no kernel BPF (bpftool prog show fails)');

/** Attachments installed in (or waiting for) an agent, bpftrace's own BEGIN/END not counted. */
async function attachedCount(dir: string): Promise<number> {
  try {
    const s = await queryStatus(dir);
    return s.attachments.filter((a: any) => !/bpftrace$/.test(a.path) && a.agents.some((g: any) => g.state === 'attached' || g.state === 'waiting')).length;
  } catch {
    return 0;
  }
}

/** Runs /usr/sbin/<tool>.bt under the shim or on the kernel until its header (printed by BEGIN,
 * after every probe is attached) is out, then the python3 workload (under bpftime start for the
 * shim), then stops the tool; returns what the tool and the workload printed. */
async function run(mode: Mode, tool: string, probes: number, header: RegExp, workload: string): Promise<{ out: string; work: string }> {
  const dir = mode === 'shim' ? tmpRuntimeDir() : '';
  const env = mode === 'shim' ? bpftimeEnv(dir) : process.env;
  const bt = mode === 'shim' ? new Proc(process.execPath, [cli, 'load', 'bpftrace', `/usr/sbin/${tool}.bt`], env) : new Proc('bpftrace', [`/usr/sbin/${tool}.bt`], env);
  try {
    await bt.waitFor(new RegExp(`Attaching ${probes + 1} probes`), 30000);
    await bt.waitFor(header, 15000);
    if (mode === 'shim') {
      for (const end = Date.now() + 15000; Date.now() < end && (await attachedCount(dir)) < probes; ) await sleep(100);
      assert.equal(await attachedCount(dir), probes, `${tool}: probes not attached\n${bt.out}`);
    }
    const argv = ['python3', '-c', workload];
    // Not spawnSync: the tool's output must keep being read meanwhile (on the kernel it sees the
    // whole machine's events, and a full pipe would stall it until it loses ours).
    const w = mode === 'shim' ? new Proc(process.execPath, [cli, 'start', ...argv], env) : new Proc(argv[0], argv.slice(1), env);
    assert.equal(await w.exited, 0, `workload failed (${mode}):\n${w.out}`);
    await sleep(800);
    await bt.stop('SIGINT', 5000);
    const streams = [bt.child.stdout!, bt.child.stderr!].filter((x) => !x.destroyed && !x.readableEnded);
    await Promise.race([Promise.all(streams.map((x) => new Promise((r) => x.once('close', r)))), sleep(3000)]);
    const lost = /^Lost \d+ events/m.exec(bt.out);
    if (mode === 'kernel' && lost) throw new KernelLostEvents(`bpftrace on the kernel: ${lost[0]}`);
    return { out: bt.out, work: w.out };
  } finally {
    await bt.stop('SIGKILL');
    if (dir) {
      stopServer(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

class KernelLostEvents extends Error {}

async function shimAndKernel<T>(t: { diagnostic: (s: string) => void }, body: (mode: Mode) => Promise<T>): Promise<void> {
  const shim = await body('shim');
  if (kernelSkip) {
    t.diagnostic(`kernel reference skipped: ${kernelSkip}`);
    return;
  }
  try {
    assert.deepEqual(shim, await body('kernel'), 'the shim and the kernel disagree');
  } catch (e) {
    // On the kernel the tool sees the whole machine: on a busy one its perf buffers can overflow
    if (!(e instanceof KernelLostEvents)) throw e;
    t.diagnostic(`kernel reference unavailable: ${e.message}`);
  }
}

test('execsnoop.bt: sys_enter_exec* expands to execve and execveat; argv of each', { skip: skip || (!fs.existsSync('/usr/sbin/execsnoop.bt') && 'no execsnoop.bt'), timeout: 120000 }, async (t) => {
  const tag = `bpftime-exec-${process.pid}`;
  // Two children: one execve()s /bin/true, the other fexecve()s it (execveat with AT_EMPTY_PATH).
  // The tag is put together at run time: the workload's own exec (python3 -c SCRIPT) is traced
  // too, and must not match.
  const workload = `import os
tag = 'bpftime-' + 'exec-${process.pid}'
def child(f):
    pid = os.fork()
    if pid == 0:
        try: f()
        finally: os._exit(127)
    os.waitpid(pid, 0)
    print(pid, flush=True)
child(lambda: os.execv('/bin/true', ['true', tag + '-ve', 'one', 'two']))
fd = os.open('/bin/true', os.O_RDONLY)
child(lambda: os.execve(fd, ['true', tag + '-veat'], {}))
`;
  await shimAndKernel(t, async (mode) => {
    const { out, work } = await run(mode, 'execsnoop', 2, /^TIME\(ms\)\s+PID\s+ARGS$/m, workload);
    const [vePid, veatPid] = work.trim().split('\n');
    // TIME(ms) PID ARGS, the arguments joined by spaces. bpftrace reads its perf buffers CPU by
    // CPU, so events from two CPUs may come out of order: compared as a set.
    const events = out.split('\n').filter((l) => l.includes(tag)).map((l) => l.trim().split(/\s+/));
    assert.ok(events.every((e) => /^\d+$/.test(e[0])), out);
    const byPid = events.map((e) => `${e[1]} ${e.slice(2).join(' ')}`).sort();
    assert.deepEqual(byPid, [`${vePid} true ${tag}-ve one two`, `${veatPid} true ${tag}-veat`].sort(), `${mode}\n${out}`);
    return events.map((e) => e.slice(2).join(' ')).sort(); // pids differ between the runs
  });
});

test('syncsnoop.bt: sync, syncfs, fsync, fdatasync, sync_file_range* and msync of a traced process', { skip: skip || (!fs.existsSync('/usr/sbin/syncsnoop.bt') && 'no syncsnoop.bt'), timeout: 120000 }, async (t) => {
  const workload = `import ctypes, mmap, os, tempfile
print(os.getpid(), flush=True)
libc = ctypes.CDLL(None, use_errno=True)
with tempfile.TemporaryFile() as f:
    f.write(b'x' * 4096); f.flush()
    fd = f.fileno()
    os.sync()
    os.fsync(fd)
    os.fdatasync(fd)
    assert libc.syncfs(fd) == 0
    assert libc.sync_file_range(fd, ctypes.c_int64(0), ctypes.c_int64(0), 2) == 0
    m = mmap.mmap(fd, 4096); m[0] = 0x79; m.flush(); m.close()
`;
  await shimAndKernel(t, async (mode) => {
    const { out, work } = await run(mode, 'syncsnoop', 6, /^TIME\s+PID\s+COMM\s+EVENT$/m, workload);
    const pid = work.trim();
    // TIME PID COMM EVENT, with the probe's full name
    const events = out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === pid);
    assert.ok(events.every((f) => /^\d\d:\d\d:\d\d$/.test(f[0]) && f[2] === 'python3'), out);
    // sorted: bpftrace reads its perf buffers CPU by CPU, and the process may move between CPUs
    const probes = events.map((f) => f[3]).sort();
    assert.deepEqual(probes, ['sync', 'fsync', 'fdatasync', 'syncfs', 'sync_file_range', 'msync'].map((s) => `tracepoint:syscalls:sys_enter_${s}`).sort(), `${mode}\n${out}`);
    return probes;
  });
});

test('bpftrace -l lists the syscall tracepoints the kernel lists', { skip: skip || (kernelSkip && `${kernelSkip}: nothing to compare with`), timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  try {
    const list = (argv: string[], env?: NodeJS.ProcessEnv) => {
      const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter((l) => l.startsWith('tracepoint:')).sort();
    };
    for (const pattern of ['tracepoint:syscalls:*', 'tracepoint:raw_syscalls:*', 'tracepoint:*:sys_enter_exec*']) {
      const shim = list([process.execPath, cli, 'load', 'bpftrace', '-l', pattern], bpftimeEnv(dir));
      const kernel = list(['bpftrace', '-l', pattern]);
      assert.ok(shim.length > 0, pattern);
      assert.deepEqual(shim.filter((l) => !kernel.includes(l)), [], `${pattern}: listed under the shim only`);
      // Syscalls newer than the uapi headers the project builds against have no known number,
      // so no served event (scripts/gen-tracefs.js); every other one is listed.
      const hdr = fs.readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8');
      const missing = kernel.filter((l) => !shim.includes(l));
      const known = missing.filter((l) => {
        const m = /^tracepoint:syscalls:sys_(?:enter|exit)_(\w+)$/.exec(l);
        return !m || new RegExp(`^#define __NR_${m[1]}\\s`, 'm').test(hdr);
      });
      assert.deepEqual(known, [], `${pattern}: the kernel lists these, the shim does not`);
    }
  } finally {
    stopServer(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Wildcards in the event and in the system, the same probes whether or not a tracefs is mounted
// (a private mount namespace without it, so that nothing else on the machine notices).
test('tracepoint wildcards expand to the same probes with and without a mounted tracefs, as on the kernel', { skip: skip || (!haveCommand('unshare') && 'no unshare(1)') || (process.getuid?.() !== 0 && 'needs root for a mount namespace'), timeout: 90000 }, async (t) => {
  const program = 'tracepoint:sys*:sys_enter_exec*, tracepoint:syscalls:sys_enter_sync_file_range*, tracepoint:raw_syscalls:sys_e* { } BEGIN { exit() }';
  const attaching = (r: { status: number | null; stdout: string; stderr: string }, what: string) => {
    const m = /^Attaching (\d+) probes/m.exec(r.stdout);
    assert.ok(m && r.status === 0, `${what}: ${r.stdout}${r.stderr}`);
    return Number(m[1]);
  };
  const underShim = (unmount: boolean) => {
    const dir = tmpRuntimeDir();
    try {
      const load = `${process.execPath} ${cli} load bpftrace -e "$0"`;
      const script = unmount ? `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; ! test -e /sys/kernel/tracing/events || exit 99; exec ${load}` : `exec ${load}`;
      const argv = unmount ? ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, program] : ['sh', '-c', script, program];
      const r = spawnSync(argv[0], argv.slice(1), { env: bpftimeEnv(dir), encoding: 'utf8', timeout: 30000 });
      assert.notEqual(r.status, 99, 'tracefs still mounted in the private namespace');
      return attaching(r, unmount ? 'shim, no tracefs' : 'shim');
    } finally {
      stopServer(dir);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  // execve, execveat; sync_file_range; raw sys_enter, sys_exit; BEGIN
  assert.equal(underShim(false), 6);
  assert.equal(underShim(true), 6);
  if (kernelSkip) return t.diagnostic(`kernel reference skipped: ${kernelSkip}`);
  assert.equal(attaching(spawnSync('bpftrace', ['-e', program], { encoding: 'utf8', timeout: 30000 }), 'kernel'), 6);
});

// glob(3) itself, from a C program, under the shim and on the kernel's tracefs: matches, the
// non-magic tail checked by stat, GLOB_MARK on directories, no match, and both roots alike.
test('glob() under the served tracefs answers as on the kernel', { skip: (!haveCommand('cc') && 'no cc'), timeout: 60000 }, async (t) => {
  const bin = buildC('tracefs_glob', `#include <glob.h>
#include <stdio.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int flags = argv[i][0] == '+' ? GLOB_MARK : 0;
    glob_t g;
    int r = glob(argv[i] + (flags ? 1 : 0), flags, NULL, &g);
    printf("%s: %d", argv[i], r);
    for (size_t j = 0; r == 0 && j < g.gl_pathc; j++) printf(" %s", g.gl_pathv[j]);
    printf("\\n");
    if (r == 0) globfree(&g);
  }
  return 0;
}
`);
  const patterns = (root: string) => [
    `${root}/events/syscalls/sys_enter_exec*/format`,
    `${root}/events/syscalls/sys_*_sync_file_range*`,
    `+${root}/events/raw_syscalls/*`,
    `${root}/events/sys*/sys_enter_sync`,
    `${root}/events/syscalls/sys_enter_execve/[fi]*`,
    `${root}/events/syscalls/sys_enter_nosuch*/format`,
    `${root}/events/nosuch/*`,
    `${root}/events/syscalls/sys_enter_execve/format/*`,
  ];
  const norm = (out: string, root: string) => out.split(root).join('<tracefs>');
  const dir = tmpRuntimeDir();
  let shim: string[] = [];
  try {
    for (const root of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
      const r = spawnSync(process.execPath, [cli, 'load', bin, ...patterns(root)], { env: bpftimeEnv(dir), encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, r.stderr);
      const out = norm(r.stdout, root).trim().split('\n');
      if (shim.length) assert.deepEqual(out, shim, 'the two roots differ');
      shim = out;
    }
  } finally {
    stopServer(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // GLOB_NOMATCH is 3
  assert.deepEqual(shim, [
    '<tracefs>/events/syscalls/sys_enter_exec*/format: 0 <tracefs>/events/syscalls/sys_enter_execve/format <tracefs>/events/syscalls/sys_enter_execveat/format',
    '<tracefs>/events/syscalls/sys_*_sync_file_range*: 0 <tracefs>/events/syscalls/sys_enter_sync_file_range <tracefs>/events/syscalls/sys_exit_sync_file_range',
    '+<tracefs>/events/raw_syscalls/*: 0 <tracefs>/events/raw_syscalls/enable <tracefs>/events/raw_syscalls/filter <tracefs>/events/raw_syscalls/sys_enter/ <tracefs>/events/raw_syscalls/sys_exit/',
    '<tracefs>/events/sys*/sys_enter_sync: 0 <tracefs>/events/syscalls/sys_enter_sync',
    '<tracefs>/events/syscalls/sys_enter_execve/[fi]*: 0 <tracefs>/events/syscalls/sys_enter_execve/filter <tracefs>/events/syscalls/sys_enter_execve/format <tracefs>/events/syscalls/sys_enter_execve/id',
    '<tracefs>/events/syscalls/sys_enter_nosuch*/format: 3',
    '<tracefs>/events/nosuch/*: 3',
    '<tracefs>/events/syscalls/sys_enter_execve/format/*: 3',
  ]);
  if (kernelSkip) return t.diagnostic(`kernel reference skipped: ${kernelSkip}`);
  const k = spawnSync(bin, patterns('/sys/kernel/tracing'), { encoding: 'utf8', timeout: 30000 });
  assert.deepEqual(norm(k.stdout, '/sys/kernel/tracing').trim().split('\n'), shim, 'the kernel differs');
});
