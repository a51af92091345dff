// The runtime's bpf filesystem (src-ts/kernel/bpffs.ts): where pins may go, the kernel's errors
// for where they may not, and the references pins hold. The real filesystem is a fake here, so
// the cases do not depend on what this machine has mounted.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Bpffs, RealFs } from '../../src-ts/kernel/bpffs';
import { KernelError, Errno } from '../../src-ts/kernel/errno';
import { BpfObject } from '../../src-ts/kernel/objects';

/** A real filesystem with a few directories, one file and one bpf mount (at /mnt/bpf). */
function fakeFs(): RealFs {
  const dirs = new Set(['/', '/tmp', '/mnt', '/mnt/bpf', '/mnt/bpf/sub', '/sys', '/sys/fs', '/sys/fs/bpf']);
  const files = new Set(['/tmp/file']);
  return {
    stat: (p) => (dirs.has(p) ? 'dir' : files.has(p) ? 'file' : [...files].some((f) => p.startsWith(f + '/')) ? -Errno.ENOTDIR : -Errno.ENOENT),
    exists: (p) => dirs.has(p) || files.has(p),
    realpath: (p) => (dirs.has(p) || files.has(p) ? p : p === '/link' ? '/mnt/bpf' : null),
    mounts: () => [
      { dir: '/', type: 'ext4' },
      { dir: '/sys', type: 'sysfs' },
      { dir: '/mnt/bpf', type: 'bpf' },
    ],
  };
}

/** Counts references the way BpfObject does, without a memfd. */
interface FakeObj {
  count: number;
  destroyed: boolean;
  obj: BpfObject;
}

function fakeObj(): FakeObj {
  const o: FakeObj = {
    count: 0,
    destroyed: false,
    obj: {
      get destroyed() {
        return o.destroyed;
      },
      acquire() {
        o.count++;
        return this;
      },
      release() {
        if (--o.count === 0) o.destroyed = true;
      },
    } as unknown as BpfObject,
  };
  return o;
}

function errnoOf(f: () => unknown): number {
  try {
    f();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return 0;
}

test('pins live in /sys/fs/bpf and hold a reference until unlinked', () => {
  const fs = new Bpffs(fakeFs());
  const m = fakeObj();
  fs.pin('/sys/fs/bpf/m', m.obj);
  assert.equal(m.count, 1);
  assert.equal(fs.get('/sys/fs/bpf/m'), m.obj);
  assert.equal(fs.get('/sys/fs/bpf//m/'), m.obj, 'paths are normalised');
  assert.equal(errnoOf(() => fs.pin('/sys/fs/bpf/m', m.obj)), Errno.EEXIST);
  assert.equal(fs.pinCount, 1);
  fs.unlink('/sys/fs/bpf/m');
  assert.equal(m.count, 0);
  assert.equal(m.destroyed, true);
  assert.equal(errnoOf(() => fs.get('/sys/fs/bpf/m')), Errno.ENOENT);
  assert.equal(fs.pinCount, 0);
});

test('the kernel errors for where a pin cannot go', () => {
  const fs = new Bpffs(fakeFs());
  const m = fakeObj();
  fs.pin('/sys/fs/bpf/m', m.obj);
  assert.equal(errnoOf(() => fs.pin('/sys/fs/bpf/missing/x', m.obj)), Errno.ENOENT);
  assert.equal(errnoOf(() => fs.pin('/sys/fs/bpf/m/x', m.obj)), Errno.ENOTDIR);
  assert.equal(errnoOf(() => fs.pin('/tmp/x', m.obj)), Errno.EPERM, 'a real directory that is not bpffs');
  assert.equal(errnoOf(() => fs.pin('/tmp', m.obj)), Errno.EEXIST, 'EEXIST comes before the bpffs check');
  assert.equal(errnoOf(() => fs.pin('/nonexistent/x', m.obj)), Errno.ENOENT);
  assert.equal(errnoOf(() => fs.pin('/tmp/file/x', m.obj)), Errno.ENOTDIR);
  assert.equal(errnoOf(() => fs.pin('/sys/fs/bpf', m.obj)), Errno.EEXIST);
  assert.equal(m.count, 1, 'failed pins hold nothing');
});

test('OBJ_GET finds only pins', () => {
  const fs = new Bpffs(fakeFs());
  assert.equal(errnoOf(() => fs.get('/sys/fs/bpf')), Errno.EACCES, 'a directory');
  assert.equal(errnoOf(() => fs.get('/tmp')), Errno.EACCES, 'a real directory');
  assert.equal(errnoOf(() => fs.get('/tmp/file')), Errno.EACCES, 'a real file');
  assert.equal(errnoOf(() => fs.get('/nonexistent')), Errno.ENOENT);
  assert.equal(errnoOf(() => fs.get('/sys/fs/bpf/nothing')), Errno.ENOENT);
});

test('directories of the runtime bpffs', () => {
  const fs = new Bpffs(fakeFs());
  const m = fakeObj();
  fs.mkdir('/sys/fs/bpf/tool');
  fs.mkdir('/sys/fs/bpf/tool/maps');
  fs.pin('/sys/fs/bpf/tool/maps/counts', m.obj);
  assert.deepEqual(fs.children('/sys/fs/bpf'), ['tool']);
  assert.deepEqual(fs.children('/sys/fs/bpf/tool/maps'), ['counts']);
  assert.deepEqual(fs.stat('/sys/fs/bpf/tool'), { kind: 'dir' });
  assert.equal(fs.stat('/sys/fs/bpf/tool/maps/counts')?.kind, 'pin');
  assert.equal(fs.stat('/sys/fs/bpf/none'), null);
  assert.equal(errnoOf(() => fs.mkdir('/sys/fs/bpf/tool')), Errno.EEXIST);
  assert.equal(errnoOf(() => fs.mkdir('/sys/fs/bpf/a/b')), Errno.ENOENT);
  assert.equal(errnoOf(() => fs.mkdir('/tmp/d')), Errno.EPERM);
  assert.equal(errnoOf(() => fs.rmdir('/sys/fs/bpf/tool/maps')), Errno.ENOTEMPTY);
  assert.equal(errnoOf(() => fs.unlink('/sys/fs/bpf/tool/maps')), Errno.EISDIR);
  assert.equal(errnoOf(() => fs.rmdir('/sys/fs/bpf/tool/maps/counts')), Errno.ENOTDIR);
  assert.equal(errnoOf(() => fs.rmdir('/sys/fs/bpf')), Errno.EBUSY);
  fs.unlink('/sys/fs/bpf/tool/maps/counts');
  fs.rmdir('/sys/fs/bpf/tool/maps');
  assert.deepEqual(fs.children('/sys/fs/bpf/tool'), []);
});

test('pins in a real bpf filesystem mounted elsewhere, also through a symlink', () => {
  const fs = new Bpffs(fakeFs());
  const m = fakeObj();
  fs.pin('/mnt/bpf/sub/m', m.obj);
  assert.equal(fs.get('/mnt/bpf/sub/m'), m.obj);
  fs.pin('/link/n', m.obj);
  assert.equal(fs.get('/mnt/bpf/n'), m.obj, 'the parent is resolved to its real path');
  assert.deepEqual(fs.pins().map((p) => p.path), ['/mnt/bpf/n', '/mnt/bpf/sub/m']);
  assert.equal(m.count, 2);
});

test('inodes: modes from the creator, nlink, inode numbers, names with a dot', () => {
  const fs = new Bpffs(fakeFs());
  const m = fakeObj();
  const who = { uid: 1000, gid: 100, umask: 0o022 };
  fs.mkdir('/sys/fs/bpf/d', 0o777, who);
  fs.mkdir('/sys/fs/bpf/d/sub', 0o1777, who);
  fs.pin('/sys/fs/bpf/d/p', m.obj, { uid: 1000, gid: 100, umask: 0o077 });
  const d = fs.inode('/sys/fs/bpf/d');
  assert.equal(d.kind, 'dir');
  assert.equal(d.meta.mode, 0o040755);
  assert.equal(d.nlink, 3, '2 + one subdirectory');
  assert.equal(d.meta.uid, 1000);
  assert.equal(fs.inode('/sys/fs/bpf/d/sub').meta.mode, 0o041755, 'sticky bit kept, umask off');
  const p = fs.inode('/sys/fs/bpf/d/p');
  assert.equal(p.meta.mode, 0o100600);
  assert.equal(p.nlink, 1);
  assert.notEqual(p.meta.ino, d.meta.ino);
  assert.equal(fs.inode('/sys/fs/bpf').meta.ino, 1);
  assert.equal(errnoOf(() => fs.inode('/sys/fs/bpf/d/p/')), Errno.ENOTDIR);
  assert.equal(errnoOf(() => fs.inode('/sys/fs/bpf/d/p/x')), Errno.ENOTDIR);
  assert.equal(errnoOf(() => fs.inode('/sys/fs/bpf/none')), Errno.ENOENT);
  assert.equal(errnoOf(() => fs.mkdir('/sys/fs/bpf/a.b')), Errno.EPERM);
  assert.equal(errnoOf(() => fs.pin('/sys/fs/bpf/d/a.b', m.obj)), Errno.EPERM);
  assert.equal(errnoOf(() => fs.inode('/sys/fs/bpf/none/a.b')), Errno.ENOENT, 'the walk stops at the missing directory first');
  assert.equal(errnoOf(() => fs.pin('/mnt/bpf/a.b', m.obj)), Errno.EPERM, 'on a real bpf mount too');
  assert.deepEqual(fs.list('/sys/fs/bpf/d'), [
    { name: 'sub', kind: 'dir' },
    { name: 'p', kind: 'pin' },
  ]);
  assert.equal(errnoOf(() => fs.list('/sys/fs/bpf/d/p')), Errno.ENOTDIR);
});

test('rename in the runtime bpffs, with the kernel errors', () => {
  const fs = new Bpffs(fakeFs());
  const m = fakeObj();
  const n = fakeObj();
  fs.mkdir('/sys/fs/bpf/a');
  fs.mkdir('/sys/fs/bpf/b');
  fs.mkdir('/sys/fs/bpf/full');
  fs.pin('/sys/fs/bpf/a/m', m.obj);
  fs.pin('/sys/fs/bpf/full/n', n.obj);
  fs.rename('/sys/fs/bpf/a', '/sys/fs/bpf/b');
  assert.equal(fs.get('/sys/fs/bpf/b/m'), m.obj, 'a directory moves with its pins, over an empty one');
  assert.equal(errnoOf(() => fs.get('/sys/fs/bpf/a/m')), Errno.ENOENT);
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/b', '/sys/fs/bpf/b/x')), Errno.EINVAL);
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/b', '/sys/fs/bpf/full')), Errno.ENOTEMPTY);
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/b', '/sys/fs/bpf/full/n')), Errno.ENOTDIR);
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/b/m', '/sys/fs/bpf/full')), Errno.EISDIR);
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/b/m', '/tmp/m')), Errno.EXDEV);
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/b/m', '/sys/fs/bpf/full/n', 1)), Errno.EEXIST, 'RENAME_NOREPLACE');
  assert.equal(errnoOf(() => fs.rename('/sys/fs/bpf/none', '/sys/fs/bpf/x')), Errno.ENOENT);
  fs.rename('/sys/fs/bpf/b/m', '/sys/fs/bpf/full/n');
  assert.equal(n.destroyed, true, 'the replaced pin dropped its reference');
  assert.equal(fs.get('/sys/fs/bpf/full/n'), m.obj);
  assert.equal(m.count, 1);
});
