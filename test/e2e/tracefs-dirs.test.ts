// The served tracefs as a directory tree, against the kernel's: test/programs/tracefs_dirs.c
// (stat family, access, opendir/readdir/readdir64, fdopendir, getdents64 through syscall(), calls
// relative to a directory fd, path-walk errors, refused changes) prints the same lines on the
// kernel's tracefs and under the shim at /sys/kernel/tracing and /sys/kernel/debug/tracing (where
// nothing need be mounted); find, ls -la, Python's os.listdir and bpftrace -l see the same tree
// (every syscall tracepoint of the kernel, those newer than the build's headers included).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, isRoot, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const KERNEL = '/sys/kernel/tracing';
const DEBUG = '/sys/kernel/debug/tracing';
const src = path.join(root, 'test', 'programs', 'tracefs_dirs.c');
const kernelSkip = !isRoot ? 'not root' : !fs.existsSync(`${KERNEL}/events/syscalls`) ? 'no tracefs with syscall events mounted' : false;

function run(dir: string, cmd: string, args: string[], shim: boolean): string {
  const r = spawnSync(cmd, args, { env: shim ? { ...bpftimeEnv(dir), LD_PRELOAD: shimLib } : process.env, encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('served tracefs directories: stat, listings and fds as the kernel\'s tracefs', { skip: !haveCommand('cc') && 'no C compiler', timeout: 120000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const bin = path.join(dir, 'tracefs_dirs');
    execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
    const atKernelPath = run(dir, bin, [KERNEL], true);
    const atDebugPath = run(dir, bin, [DEBUG], true);
    assert.equal(atDebugPath, atKernelPath, 'the same tree under both roots');
    assert.match(atDebugPath, /^stat events\/syscalls\/sys_enter_fchmodat2: dir mode 755 size 0 nlink 1$/m);
    assert.match(atDebugPath, /^readdir64 events\/raw_syscalls: 6: \.\(dir\) \.\.\(dir\) enable\(reg\) filter\(reg\) sys_enter\(dir\) sys_exit\(dir\)$/m);
    assert.match(atDebugPath, /^readdir events\/syscalls: 724: /m);
    assert.match(atDebugPath, /^stat events\/syscalls\/sys_enter_openat\/id\/x: ENOTDIR$/m);
    assert.match(atDebugPath, /^getdents64 entries: 5 \(directories 0\)$/m);

    const findArgs = (r: string) => [`${r}/events/syscalls`, `${r}/events/raw_syscalls`, '-printf', '%P %y %m %n\\n'];
    const sorted = (s: string) => s.split('\n').filter(Boolean).sort();
    const shimFind = sorted(run(dir, 'find', findArgs(DEBUG), true));
    assert.ok(shimFind.includes('sys_exit_fchmodat2/format f 440 1'), 'find descends into every event');
    const lsArgs = (r: string) => ['-la', `${r}/events/syscalls/sys_enter_openat`];
    const lsCols = (s: string) => s.split('\n').slice(1).filter(Boolean).map((l) => l.split(/\s+/)).map((c) => `${c[0]} ${c[1]} ${c[4]} ${c[8]}`);
    const shimLs = lsCols(run(dir, 'ls', lsArgs(DEBUG), true));
    const py = ['-c', `import os, sys; print(sorted(os.listdir(sys.argv[1] + '/events/syscalls')) == sorted(os.listdir(sys.argv[1] + '/events/syscalls/.')), len(os.listdir(sys.argv[1] + '/events/syscalls')), sorted(os.listdir(sys.argv[1] + '/events/raw_syscalls/sys_exit')))`];
    const shimPy = haveCommand('python3') ? run(dir, 'python3', [...py, DEBUG], true) : null;
    // bcc's tplist lists tracepoints with os.listdir under /sys/kernel/debug/tracing, which a
    // kernel without debugfs mounted lacks: under the shim it is served
    const tplist = haveCommand('tplist-bpfcc') ? run(dir, 'tplist-bpfcc', ['-v', 'syscalls:sys_enter_fchmodat2'], true) : null;
    if (tplist !== null) assert.match(tplist, /^syscalls:sys_enter_fchmodat2\n(    .*;\n)+$/);
    const bt = ['-l', 'tracepoint:syscalls:sys_*_fchmod*'];
    const shimBt = haveCommand('bpftrace') ? run(dir, 'bpftrace', bt, true) : null;
    if (shimBt) assert.match(shimBt, /^tracepoint:syscalls:sys_enter_fchmodat2$/m);
    stopServer(dir);

    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    assert.deepEqual(atKernelPath.split('\n'), run(dir, bin, [KERNEL], false).split('\n'));
    assert.deepEqual(shimFind, sorted(run(dir, 'find', findArgs(KERNEL), false)));
    assert.deepEqual(shimLs, lsCols(run(dir, 'ls', lsArgs(KERNEL), false)));
    if (shimPy !== null) assert.equal(shimPy, run(dir, 'python3', [...py, KERNEL], false));
    if (shimBt !== null) assert.equal(shimBt, run(dir, 'bpftrace', bt, false));
    if (tplist !== null) {
      // the fields tplist printed are the kernel's format file's (less the common ones)
      const format = fs.readFileSync(`${KERNEL}/events/syscalls/sys_enter_fchmodat2/format`, 'utf8');
      const fields = [...format.matchAll(/^\tfield:(.*?);/gm)].map((m) => m[1]).filter((f) => !/ common_/.test(f));
      assert.deepEqual(tplist.split('\n').slice(1).filter(Boolean).map((l) => l.trim().replace(/;$/, '')), fields);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
