// The bpf filesystem, as far as the runtime keeps it: pins (BPF_OBJ_PIN/BPF_OBJ_GET) and the
// directories they live in.
//
// Nothing reaches the kernel, so a pin can never be a real file. Pins are entries in this
// namespace, keyed by absolute path, and each holds a reference on its object, so a pinned object
// outlives the tool that pinned it (as on a kernel, until the pin is removed).
//
// Where a pin may go, as the kernel decides (the parent directory must be on a bpf filesystem):
//  - under /sys/fs/bpf, the runtime's own bpffs: the root always exists, its subdirectories are
//    the ones created here (mkdir), since on most machines /sys/fs/bpf is an empty sysfs
//    directory that nobody can create anything in;
//  - in any directory of a real bpf filesystem mounted on the machine (found in /proc/mounts),
//    including /sys/fs/bpf itself when one is mounted there: its directories are real, the pins
//    in them are still ours.
// Everywhere else the kernel's path-walk errors are reproduced from the real filesystem
// (ENOENT, ENOTDIR, EEXIST) and a directory that is not bpffs gives EPERM.
import * as fs from 'fs';
import * as path from 'path';
import { BpfObject } from './objects';
import { Errno, KernelError } from './errno';

export const BPFFS_ROOT = '/sys/fs/bpf';

type Entry = { kind: 'dir' } | { kind: 'pin'; obj: BpfObject };

/** What the namespace needs to know about the real filesystem (replaceable in tests). */
export interface RealFs {
  /** stat() following symlinks: 'dir' | 'file' (anything else that exists) | -errno. */
  stat(p: string): 'dir' | 'file' | number;
  /** lstat(): does anything exist at p. */
  exists(p: string): boolean;
  /** realpath(), or null when it cannot be resolved. */
  realpath(p: string): string | null;
  /** Mount points and their filesystem types. */
  mounts(): Array<{ dir: string; type: string }>;
}

const errnoOf = (e: unknown): number => {
  const code = (e as NodeJS.ErrnoException).code;
  const n = code ? (Errno as Record<string, number>)[code] : undefined;
  return n ?? Errno.EACCES;
};

export const realFs: RealFs = {
  stat(p) {
    try {
      return fs.statSync(p).isDirectory() ? 'dir' : 'file';
    } catch (e) {
      return -errnoOf(e);
    }
  },
  exists(p) {
    try {
      fs.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  },
  realpath(p) {
    try {
      return fs.realpathSync(p);
    } catch {
      return null;
    }
  },
  mounts() {
    try {
      // "device mountpoint fstype options ..."; spaces in mount points are escaped as \040.
      return fs
        .readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' '))
        .map(([, dir, type]) => ({ dir: dir.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))), type }));
    } catch {
      return [];
    }
  },
};

const fail = (errno: number, msg: string): never => {
  throw new KernelError(errno, msg);
};

export class Bpffs {
  private readonly entries = new Map<string, Entry>([[BPFFS_ROOT, { kind: 'dir' }]]);

  constructor(private readonly real: RealFs = realFs) {}

  /** Lexically normal absolute form; the parent's symlinks resolved when it is real, so that a
   * pin made through a symlinked directory is found under its real path. */
  canonical(p: string): string {
    let n = path.posix.normalize(p);
    if (n.length > 1) n = n.replace(/\/+$/, '');
    if (n === '/' || this.isVirtual(n)) return n;
    const parent = this.real.realpath(path.posix.dirname(n));
    return parent ? path.posix.join(parent, path.posix.basename(n)) : n;
  }

  private isVirtual(p: string): boolean {
    return p === BPFFS_ROOT || p.startsWith(BPFFS_ROOT + '/');
  }

  /** True when a real directory lies on a mounted bpf filesystem (the innermost mount decides). */
  private onRealBpffs(dir: string): boolean {
    const real = this.real.realpath(dir) ?? dir;
    let best = '';
    let type = '';
    for (const m of this.real.mounts()) {
      const d = m.dir === '/' ? '/' : m.dir.replace(/\/+$/, '');
      const inside = d === '/' || real === d || real.startsWith(d + '/');
      if (inside && d.length >= best.length) {
        best = d;
        type = m.type;
      }
    }
    return type === 'bpf';
  }

  /** The error a path walk gives for a missing path inside the runtime's own bpffs: ENOTDIR when a
   * component is a pin, ENOENT otherwise. */
  private walkError(p: string): never {
    for (let d = path.posix.dirname(p); this.isVirtual(d); d = path.posix.dirname(d)) {
      const e = this.entries.get(d);
      if (e?.kind === 'pin') fail(Errno.ENOTDIR, `${d} is not a directory`);
      if (e?.kind === 'dir') break;
    }
    return fail(Errno.ENOENT, `${p} does not exist`);
  }

  /** The directory new entries would go in: 'bpffs' or 'other' (a real directory elsewhere);
   * throws what the kernel's lookup of the parent throws. */
  private parentDir(dir: string): 'bpffs' | 'other' {
    const e = this.entries.get(dir);
    if (e) return e.kind === 'dir' ? 'bpffs' : fail(Errno.ENOTDIR, `${dir} is not a directory`);
    const st = this.real.stat(dir);
    if (st === 'dir') return this.onRealBpffs(dir) ? 'bpffs' : 'other';
    if (this.isVirtual(dir)) this.walkError(dir);
    if (st === 'file') fail(Errno.ENOTDIR, `${dir} is not a directory`);
    return fail(-(st as number), `cannot look up ${dir}`);
  }

  private existsAt(p: string): boolean {
    return this.entries.has(p) || this.real.exists(p);
  }

  /** BPF_OBJ_PIN: user_path_create() (parent lookup, then EEXIST), then the bpffs check (EPERM).
   * The pin holds a reference on obj. */
  pin(p: string, obj: BpfObject): void {
    const c = this.canonical(p);
    if (c === '/') fail(Errno.EEXIST, '/ exists');
    const where = this.parentDir(path.posix.dirname(c));
    if (this.existsAt(c)) fail(Errno.EEXIST, `${c} exists`);
    if (where !== 'bpffs') fail(Errno.EPERM, `${path.posix.dirname(c)} is not on a bpf filesystem`);
    this.entries.set(c, { kind: 'pin', obj: obj.acquire() });
  }

  /** BPF_OBJ_GET's lookup: the pinned object; EACCES for anything that is not a pin
   * (bpf_inode_type()), the path walk's error for what does not exist. */
  get(p: string): BpfObject {
    const c = this.canonical(p);
    const e = this.entries.get(c);
    if (e?.kind === 'pin') {
      if (e.obj.destroyed) fail(Errno.ENOENT, `${c}: object is gone`);
      return e.obj;
    }
    if (e) fail(Errno.EACCES, `${c} is a directory`);
    const st = this.real.stat(c);
    if (typeof st === 'string') fail(Errno.EACCES, `${c} is not a bpf object`);
    if (this.isVirtual(c)) this.walkError(c);
    return fail(-(st as number), `cannot look up ${c}`);
  }

  /** mkdir(2) in the runtime's own bpffs. */
  mkdir(p: string): void {
    const c = this.canonical(p);
    if (!this.isVirtual(c)) fail(Errno.EPERM, `${c} is not in ${BPFFS_ROOT}`);
    if (c === BPFFS_ROOT) fail(Errno.EEXIST, `${c} exists`);
    const where = this.parentDir(path.posix.dirname(c));
    if (this.existsAt(c)) fail(Errno.EEXIST, `${c} exists`);
    if (where !== 'bpffs') fail(Errno.EPERM, `${path.posix.dirname(c)} is not on a bpf filesystem`);
    this.entries.set(c, { kind: 'dir' });
  }

  /** rmdir(2) of a directory created here. */
  rmdir(p: string): void {
    const c = this.canonical(p);
    const e = this.entries.get(c);
    if (!e) this.isVirtual(c) ? this.walkError(c) : fail(Errno.ENOENT, `${c} is not ours`);
    if (e!.kind !== 'dir') fail(Errno.ENOTDIR, `${c} is not a directory`);
    if (c === BPFFS_ROOT) fail(Errno.EBUSY, `${c} is the mount point`);
    if (this.children(c).length) fail(Errno.ENOTEMPTY, `${c} is not empty`);
    this.entries.delete(c);
  }

  /** unlink(2) of a pin: drops the pin's reference (the object goes when nothing else holds it). */
  unlink(p: string): void {
    const c = this.canonical(p);
    const e = this.entries.get(c);
    if (!e) this.isVirtual(c) ? this.walkError(c) : fail(Errno.ENOENT, `${c} is not ours`);
    if (e!.kind === 'dir') fail(Errno.EISDIR, `${c} is a directory`);
    this.entries.delete(c);
    (e as { obj: BpfObject }).obj.release();
  }

  /** What is at p in this namespace: a directory, a pin, or nothing (the real fs decides). */
  stat(p: string): { kind: 'dir' } | { kind: 'pin'; obj: BpfObject } | null {
    return this.entries.get(this.canonical(p)) ?? null;
  }

  /** Names of the entries kept here directly under dir. */
  children(dir: string): string[] {
    const c = this.canonical(dir);
    const prefix = c === '/' ? '/' : c + '/';
    const names: string[] = [];
    for (const k of this.entries.keys()) {
      if (k.startsWith(prefix) && k.length > prefix.length && !k.slice(prefix.length).includes('/')) names.push(k.slice(prefix.length));
    }
    return names.sort();
  }

  /** Every pin, for status reports. */
  pins(): Array<{ path: string; obj: BpfObject }> {
    const out: Array<{ path: string; obj: BpfObject }> = [];
    for (const [p, e] of this.entries) if (e.kind === 'pin') out.push({ path: p, obj: e.obj });
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  get pinCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.kind === 'pin') n++;
    return n;
  }
}
