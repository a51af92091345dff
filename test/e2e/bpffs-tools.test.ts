// The runtime's /sys/fs/bpf through stock tools under the shim: bpftool pins programs and maps
// there (prog load, prog pin, map create, map pin), coreutils see them (ls -la, stat, mkdir, mv,
// rm, rmdir) with the shapes of a real bpffs (pins -rw------- regular files, directories, link
// counts), and removing the last pin frees the object as on a kernel: bpftool no longer lists it.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const obj = path.join(root, 'examples', 'malloc', 'malloc.bpf.o');
const skip = !haveCommand('bpftool') ? 'bpftool not installed' : !fs.existsSync(obj) ? 'examples not built' : false;

function run(env: NodeJS.ProcessEnv, cmd: string, args: string[]): { out: string; err: string; status: number | null } {
  const r = spawnSync(cmd, args, { env: { ...env, LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 20000 });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

function ok(env: NodeJS.ProcessEnv, cmd: string, args: string[]): string {
  const r = run(env, cmd, args);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.err}`);
  return r.out;
}

/** `ls -la` lines as [mode, links, name]. */
function listing(out: string): Array<[string, string, string]> {
  return out
    .split('\n')
    .filter((l) => /^[-d]/.test(l))
    .map((l) => l.split(/\s+/))
    .map((f) => [f[0], f[1], f[f.length - 1]] as [string, string, string]);
}

test('bpftool pins, coreutils list, move and remove them, the last rm frees the object', { skip, timeout: 90000 }, () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  try {
    ok(env, 'mkdir', ['/sys/fs/bpf/tool']);
    ok(env, 'bpftool', ['prog', 'load', obj, '/sys/fs/bpf/tool/prog']);
    const progs = JSON.parse(ok(env, 'bpftool', ['-j', 'prog', 'show', 'pinned', '/sys/fs/bpf/tool/prog']));
    const progId: number = progs.id;
    assert.ok(progId > 0);
    ok(env, 'bpftool', ['prog', 'pin', 'id', String(progId), '/sys/fs/bpf/tool/prog2']);
    ok(env, 'bpftool', ['map', 'create', '/sys/fs/bpf/m', 'type', 'hash', 'key', '4', 'value', '8', 'entries', '16', 'name', 'pinned_map']);
    const map = JSON.parse(ok(env, 'bpftool', ['-j', 'map', 'show', 'pinned', '/sys/fs/bpf/m']));
    ok(env, 'bpftool', ['map', 'pin', 'id', String(map.id), '/sys/fs/bpf/tool/m2']);

    const root = listing(ok(env, 'ls', ['-la', '/sys/fs/bpf']));
    assert.deepEqual(
      root.filter(([, , n]) => n !== '..'),
      [
        [root.find(([, , n]) => n === '.')![0], '3', '.'],
        ['-rw-------', '1', 'm'],
        ['drwxr-xr-x', '2', 'tool'],
      ],
    );
    assert.deepEqual(listing(ok(env, 'ls', ['-la', '/sys/fs/bpf/tool'])).filter(([, , n]) => n !== '..'), [
      ['drwxr-xr-x', '2', '.'],
      ['-rw-------', '1', 'm2'],
      ['-rw-------', '1', 'prog'],
      ['-rw-------', '1', 'prog2'],
    ]);
    assert.equal(ok(env, 'stat', ['-c', '%F %a %h %s', '/sys/fs/bpf/tool/prog']).trim(), 'regular empty file 600 1 0');

    // rm of one pin keeps the object (another pin holds it); the last one frees it.
    ok(env, 'rm', ['/sys/fs/bpf/tool/prog']);
    assert.ok(JSON.parse(ok(env, 'bpftool', ['-j', 'prog', 'list'])).some((p: any) => p.id === progId), 'still pinned as prog2');
    ok(env, 'mv', ['/sys/fs/bpf/tool/prog2', '/sys/fs/bpf/moved']);
    assert.equal(run(env, 'stat', ['/sys/fs/bpf/tool/prog2']).status, 1);
    ok(env, 'rm', ['/sys/fs/bpf/moved']);
    assert.ok(!JSON.parse(ok(env, 'bpftool', ['-j', 'prog', 'list'])).some((p: any) => p.id === progId), 'freed with its last pin');

    const rmdir = run(env, 'rmdir', ['/sys/fs/bpf/tool']);
    assert.notEqual(rmdir.status, 0);
    assert.match(rmdir.err, /Directory not empty/);
    const rmDir = run(env, 'rm', ['/sys/fs/bpf/tool']);
    assert.match(rmDir.err, /Is a directory/);
    ok(env, 'rm', ['-r', '/sys/fs/bpf/tool']);
    ok(env, 'rm', ['/sys/fs/bpf/m']);
    assert.ok(!JSON.parse(ok(env, 'bpftool', ['-j', 'map', 'list'])).some((m: any) => m.id === map.id), 'map freed with its last pin');
    assert.deepEqual(listing(ok(env, 'ls', ['-la', '/sys/fs/bpf'])).map(([, , n]) => n), ['.', '..']);

    // A shell in the bpffs: mkdir -p (relative mkdirs after chdir), cd, a pin by a relative
    // path, coreutils on relative names in a new process.
    const sh = ok(env, 'bash', ['-c', 'mkdir -p /sys/fs/bpf/a/b && cd /sys/fs/bpf/a && bpftool map create ./m type hash key 4 value 4 entries 2 name rel && stat -c "%n %a %F" m b && ls ../a']);
    assert.deepEqual(sh.trim().split('\n'), ['m 600 regular empty file', 'b 755 directory', 'b', 'm']);
    ok(env, 'rm', ['-r', '/sys/fs/bpf/a']);
  } finally {
    stopServer(dir);
  }
});
