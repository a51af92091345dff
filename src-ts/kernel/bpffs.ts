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

/** What stat() shows of an entry, as the kernel's bpffs inodes: pins are S_IFREG 0600 (less the
 * creator's umask), directories S_IFDIR with the mode mkdir() asked for (less the umask), empty,
 * owned by their creator, with their own inode numbers. */
export interface InodeMeta {
  ino: number;
  mode: number; // with the S_IFMT bits
  uid: number;
  gid: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** What chmod, chown and utimensat change (a time 'now' is UTIME_NOW; absent is unchanged). */
export interface AttrChange {
  mode?: number;
  chown?: boolean; // a chown, whose uid and gid may both be absent (-1)
  uid?: number;
  gid?: number;
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
}

/** Who makes an entry: its owner and the umask applied to its mode. */
export interface Creator {
  uid: number;
  gid: number;
  umask: number;
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
const ROOT_CREATOR: Creator = { uid: 0, gid: 0, umask: 0 };
const nowNs = (): bigint => BigInt(Date.now()) * 1000000n;

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

/** chmod/chown/utimensat on an inode as notify_change() does for simple inodes (bpffs pins and
 * directories, the served tracefs): see Bpffs.setattr. c names it in errors. */
export function applyAttrChange(c: string, m: InodeMeta, change: AttrChange, who: Creator): void {
  const owner = who.uid === 0 || who.uid === m.uid;
  const t = nowNs();
  if (change.mode !== undefined) {
    if (!owner) fail(Errno.EPERM, `${c}: not the owner`);
    let mode = change.mode & 0o7777;
    // without CAP_FSETID, set-group-ID goes unless the caller is in the file's group
    if (who.uid !== 0 && who.gid !== m.gid) mode &= ~0o2000;
    m.mode = (m.mode & ~0o7777) | mode;
  }
  if (change.chown) {
    const uid = change.uid ?? m.uid;
    const gid = change.gid ?? m.gid;
    if (who.uid !== 0 && (uid !== m.uid || !owner || (gid !== m.gid && gid !== who.gid))) fail(Errno.EPERM, `${c}: not permitted to change its owner`);
    // chown_common(): a file loses these bits even when neither id changes
    const isDir = (m.mode & 0o170000) === S_IFDIR;
    if (!isDir) {
      m.mode &= ~0o4000;
      if (m.mode & 0o010) m.mode &= ~0o2000;
    }
    m.uid = uid;
    m.gid = gid;
  }
  if (change.atimeNs !== undefined || change.mtimeNs !== undefined) {
    const explicit = (change.atimeNs !== undefined && change.atimeNs !== 'now') || (change.mtimeNs !== undefined && change.mtimeNs !== 'now');
    const writable = who.uid === m.uid ? m.mode & 0o200 : who.gid === m.gid ? m.mode & 0o020 : m.mode & 0o002;
    if (!owner && (explicit || !writable)) fail(explicit ? Errno.EPERM : Errno.EACCES, `${c}: not permitted to change its times`);
    if (change.atimeNs !== undefined) m.atimeNs = change.atimeNs === 'now' ? t : change.atimeNs;
    if (change.mtimeNs !== undefined) m.mtimeNs = change.mtimeNs === 'now' ? t : change.mtimeNs;
  }
  m.ctimeNs = t;
}

export class Bpffs {
  private readonly entries = new Map<string, Entry>([[BPFFS_ROOT, { kind: 'dir' }]]);
  private readonly meta = new Map<string, InodeMeta>();
  private nextIno = 1000; // the root is inode 1, as a bpf mount's root

  constructor(private readonly real: RealFs = realFs) {
    // The root as the machine's /sys/fs/bpf mount shows it (mode=700 on most systems: 01700),
    // else as a fresh bpf mount (01777).
    const t = nowNs();
    let mode = S_IFDIR | 0o1777;
    try {
      if (this.onRealBpffs(BPFFS_ROOT)) mode = fs.statSync(BPFFS_ROOT).mode;
    } catch {
      /* keep the default */
    }
    this.meta.set(BPFFS_ROOT, { ino: 1, mode, uid: 0, gid: 0, atimeNs: t, mtimeNs: t, ctimeNs: t });
  }

  private addMeta(p: string, mode: number, who: Creator): void {
    const t = nowNs();
    this.meta.set(p, { ino: this.nextIno++, mode, uid: who.uid, gid: who.gid, atimeNs: t, mtimeNs: t, ctimeNs: t });
    this.touchParent(p, t);
  }

  /** A directory's mtime and ctime change with its entries. */
  private touchParent(p: string, t = nowNs()): void {
    const m = this.meta.get(path.posix.dirname(p));
    if (m) m.mtimeNs = m.ctimeNs = t;
  }

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

  /** bpf_lookup(): a name with a dot in it is reserved (EPERM), met as the walk reaches it; a
   * missing directory or a pin on the way stops the walk first (its error comes later). */
  private checkNames(c: string): void {
    if (!c.startsWith(BPFFS_ROOT + '/')) return;
    let cur = BPFFS_ROOT;
    for (const name of c.slice(BPFFS_ROOT.length + 1).split('/')) {
      if (name.includes('.')) fail(Errno.EPERM, `${name}: names with a dot are reserved in a bpf filesystem`);
      cur = `${cur}/${name}`;
      if (this.entries.get(cur)?.kind !== 'dir') return;
    }
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
  pin(p: string, obj: BpfObject, who: Creator = ROOT_CREATOR): void {
    const c = this.canonical(p);
    this.checkNames(c);
    if (c === '/') fail(Errno.EEXIST, '/ exists');
    const where = this.parentDir(path.posix.dirname(c));
    if (this.existsAt(c)) fail(Errno.EEXIST, `${c} exists`);
    if (where !== 'bpffs') fail(Errno.EPERM, `${path.posix.dirname(c)} is not on a bpf filesystem`);
    if (path.posix.basename(c).includes('.')) fail(Errno.EPERM, `${c}: names with a dot are reserved in a bpf filesystem`);
    this.entries.set(c, { kind: 'pin', obj: obj.acquire() });
    this.addMeta(c, S_IFREG | (0o600 & ~who.umask), who); // bpf_obj_do_pin(): S_IRUSR | S_IWUSR
  }

  /** BPF_OBJ_GET's lookup: the pinned object; EACCES for anything that is not a pin
   * (bpf_inode_type()), the path walk's error for what does not exist. */
  get(p: string): BpfObject {
    const c = this.canonical(p);
    this.checkNames(c);
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
  mkdir(p: string, mode = 0o777, who: Creator = ROOT_CREATOR): void {
    const c = this.canonical(p);
    this.checkNames(c);
    if (!this.isVirtual(c)) fail(Errno.EPERM, `${c} is not in ${BPFFS_ROOT}`);
    if (c === BPFFS_ROOT) fail(Errno.EEXIST, `${c} exists`);
    const where = this.parentDir(path.posix.dirname(c));
    if (this.existsAt(c)) fail(Errno.EEXIST, `${c} exists`);
    if (where !== 'bpffs') fail(Errno.EPERM, `${path.posix.dirname(c)} is not on a bpf filesystem`);
    this.entries.set(c, { kind: 'dir' });
    this.addMeta(c, S_IFDIR | (mode & 0o1777 & ~who.umask), who); // vfs_mkdir(): sticky kept, umask off
  }

  /** rmdir(2) of a directory created here. */
  rmdir(p: string): void {
    const c = this.canonical(p);
    this.checkNames(c);
    const e = this.entries.get(c);
    if (!e) this.isVirtual(c) ? this.walkError(c) : fail(Errno.ENOENT, `${c} is not ours`);
    if (e!.kind !== 'dir') fail(Errno.ENOTDIR, `${c} is not a directory`);
    if (c === BPFFS_ROOT) fail(Errno.EBUSY, `${c} is the mount point`);
    if (this.children(c).length) fail(Errno.ENOTEMPTY, `${c} is not empty`);
    this.entries.delete(c);
    this.meta.delete(c);
    this.touchParent(c);
  }

  /** unlink(2) of a pin: drops the pin's reference (the object goes when nothing else holds it). */
  unlink(p: string): void {
    const c = this.canonical(p);
    this.checkNames(c);
    const e = this.entries.get(c);
    if (!e) this.isVirtual(c) ? this.walkError(c) : fail(Errno.ENOENT, `${c} is not ours`);
    if (e!.kind === 'dir') fail(Errno.EISDIR, `${c} is a directory`);
    this.entries.delete(c);
    this.meta.delete(c);
    this.touchParent(c);
    (e as { obj: BpfObject }).obj.release();
  }

  /** lstat() of a path in the runtime's own bpffs: its inode, and nlink as the kernel counts it
   * (2 + subdirectories for a directory, 1 for a pin); the path walk's error when it is absent. */
  inode(p: string): { kind: 'dir' | 'pin'; meta: InodeMeta; nlink: number } {
    const c = this.canonical(p);
    if (!this.isVirtual(c)) fail(Errno.ENOENT, `${c} is not in ${BPFFS_ROOT}`);
    this.checkNames(c);
    const e = this.entries.get(c);
    if (!e) this.walkError(c);
    if (e!.kind === 'pin' && p.endsWith('/')) fail(Errno.ENOTDIR, `${c} is not a directory`);
    const meta = this.meta.get(c)!;
    const nlink = e!.kind === 'dir' ? 2 + this.children(c).filter((n) => this.entries.get(path.posix.join(c, n))?.kind === 'dir').length : 1;
    return { kind: e!.kind, meta, nlink };
  }

  /** readdir() of a directory of the runtime's own bpffs: names and kinds, in creation order
   * (ENOTDIR for a pin, the walk's error when absent). */
  list(dir: string): Array<{ name: string; kind: 'dir' | 'pin' }> {
    const c = this.canonical(dir);
    if (this.inode(c).kind !== 'dir') fail(Errno.ENOTDIR, `${c} is not a directory`);
    return this.children(c)
      .map((name) => ({ name, kind: this.entries.get(path.posix.join(c, name))!.kind, ino: this.meta.get(path.posix.join(c, name))!.ino }))
      .sort((a, b) => a.ino - b.ino)
      .map(({ name, kind }) => ({ name, kind }));
  }

  /** rename(2)/renameat2() inside the runtime's own bpffs (simple_rename()): EXDEV across
   * filesystems, EINVAL into its own subtree, ENOTDIR/EISDIR/ENOTEMPTY for what it would
   * replace; a replaced pin drops its reference. flags: RENAME_NOREPLACE (EEXIST) only. */
  rename(from: string, to: string, flags = 0): void {
    const RENAME_NOREPLACE = 1;
    if (flags & ~RENAME_NOREPLACE) fail(Errno.EINVAL, 'only RENAME_NOREPLACE is offered');
    const a = this.canonical(from);
    const b = this.canonical(to);
    if (!this.isVirtual(a) || !this.isVirtual(b)) fail(Errno.EXDEV, 'rename across filesystems');
    this.checkNames(a);
    this.checkNames(b);
    const src = this.inode(a);
    const parent = this.inode(path.posix.dirname(b));
    if (parent.kind !== 'dir') fail(Errno.ENOTDIR, `${path.posix.dirname(b)} is not a directory`);
    if (a === BPFFS_ROOT || b === BPFFS_ROOT) fail(Errno.EBUSY, `${BPFFS_ROOT} is the mount point`);
    if (a === b) return;
    if (b.startsWith(a + '/')) fail(Errno.EINVAL, `cannot move ${a} into itself`);
    const dst = this.entries.get(b);
    if (dst) {
      if (flags & RENAME_NOREPLACE) fail(Errno.EEXIST, `${b} exists`);
      if (src.kind === 'dir' && dst.kind !== 'dir') fail(Errno.ENOTDIR, `${b} is not a directory`);
      if (src.kind !== 'dir' && dst.kind === 'dir') fail(Errno.EISDIR, `${b} is a directory`);
      if (dst.kind === 'dir' && this.children(b).length) fail(Errno.ENOTEMPTY, `${b} is not empty`);
      this.entries.delete(b);
      this.meta.delete(b);
      if (dst.kind === 'pin') dst.obj.release();
    }
    const moved = [...this.entries.keys()].filter((k) => k === a || k.startsWith(a + '/'));
    for (const k of moved) {
      const nk = b + k.slice(a.length);
      this.entries.set(nk, this.entries.get(k)!);
      this.meta.set(nk, this.meta.get(k)!);
      this.entries.delete(k);
      this.meta.delete(k);
    }
    const t = nowNs();
    this.meta.get(b)!.ctimeNs = t;
    this.touchParent(a, t);
    this.touchParent(b, t);
  }

  /** chmod/chown/utimensat of an entry (a pin anywhere, or a directory of the runtime's own
   * bpffs), as notify_change() on a bpffs inode (simple_setattr()): the caller must own it
   * (EPERM) unless it is root; chown of a file drops its set-user-ID bit and its set-group-ID bit
   * when group-executable (even a chown to -1, -1); utimes without explicit times also suit a caller with write access. */
  setattr(p: string, change: AttrChange, who: Creator): void {
    const c = this.canonical(p);
    const m = this.isVirtual(c) ? this.inode(p).meta : this.pinAt(c)?.meta;
    if (!m) return fail(Errno.ENOENT, `${c} is not ours`);
    applyAttrChange(c, m, change, who);
  }

  /** Whether p is a path of the runtime's own bpffs (where the shim sends file operations). */
  owns(p: string): boolean {
    return this.isVirtual(this.canonical(p));
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

  /** A path on a real bpf mount other than the runtime's own: the pins there are ours, everything
   * else is the real filesystem's. */
  onRealMount(p: string): boolean {
    const c = this.canonical(p);
    return !this.isVirtual(c) && c !== '/' && this.onRealBpffs(c);
  }

  /** The pin at p (any bpf filesystem), or null. */
  pinAt(p: string): { obj: BpfObject; meta: InodeMeta } | null {
    const c = this.canonical(p);
    const e = this.entries.get(c);
    return e?.kind === 'pin' ? { obj: e.obj, meta: this.meta.get(c)! } : null;
  }

  /** Moves a pin of a real bpf mount to a new name in a directory of a bpf mount (the caller
   * checked the target). */
  movePin(from: string, to: string): void {
    const a = this.canonical(from);
    const b = this.canonical(to);
    const e = this.entries.get(a)!;
    this.entries.delete(a);
    this.entries.set(b, e);
    this.meta.set(b, this.meta.get(a)!);
    this.meta.delete(a);
    const t = nowNs();
    this.meta.get(b)!.ctimeNs = t;
    this.touchParent(a, t);
    this.touchParent(b, t);
  }

  /** Where directory views are made (set by the server: under its runtime directory). Views
   * left by an earlier server of the directory (it went without its clients) are removed. */
  private root = '';
  get viewRoot(): string {
    return this.root;
  }
  set viewRoot(dir: string) {
    this.root = dir;
    if (!dir) return;
    try {
      for (const e of fs.readdirSync(dir)) this.removeView(path.join(dir, e.replace(/\.path$/, '')));
    } catch {
      /* none yet */
    }
  }
  private readonly views = new Map<number, string[]>();
  /** view directory -> the bpffs directory it lists (a process whose cwd is a view is there). */
  private readonly viewOf = new Map<string, string>();
  private viewSeq = 0;

  /** A real directory listing the same names as dir (directories as directories, pins as empty
   * files), for a tool that opens dir: its getdents64() runs in libc, out of the shim's reach, so
   * it must read a real directory. Kept until the process goes (dropViews) or it has made many
   * more. Returns the view's path. */
  makeView(dir: string, pid: number): string {
    const c = this.canonical(dir);
    let entries: Array<{ name: string; kind: 'dir' | 'pin' }>;
    if (this.isVirtual(c)) {
      entries = this.list(c);
    } else {
      // A directory of a real bpf mount: its real entries (what the kernel pinned or made
      // there, as files and directories) and our pins in it.
      entries = fs.readdirSync(c, { withFileTypes: true }).map((d) => ({ name: d.name, kind: d.isDirectory() ? ('dir' as const) : ('pin' as const) }));
      for (const name of this.children(c)) if (!entries.some((e) => e.name === name)) entries.push({ name, kind: 'pin' });
    }
    return this.makeListing(c, entries, pid);
  }

  /** A view of any directory the server answers for (the runtime's bpffs, or a served tracefs
   * directory): a real directory holding entries, standing for standsFor. */
  makeListing(c: string, entries: Array<{ name: string; kind: 'dir' | 'pin' }>, pid: number): string {
    if (!this.root) fail(Errno.ENOMEM, 'no place for directory views');
    fs.mkdirSync(this.viewRoot, { recursive: true, mode: 0o700 });
    const v = path.join(this.viewRoot, `${pid}.${++this.viewSeq}`);
    fs.mkdirSync(v, { mode: 0o700 });
    // Beside it, what it stands for: a process that inherits it as its working directory (a
    // shell that cd'd there, then exec) reads this to map relative paths back.
    fs.writeFileSync(`${v}.path`, c);
    this.viewOf.set(v, c);
    for (const e of entries) {
      if (e.kind === 'dir') fs.mkdirSync(path.join(v, e.name));
      else fs.closeSync(fs.openSync(path.join(v, e.name), 'w', 0o600));
    }
    let mine = this.views.get(pid) ?? [];
    mine.push(v);
    if (mine.length > 64) {
      // Those the process no longer holds open (nor sits in) go first: find and ls -R open
      // hundreds of directories one after another, each closed before the next.
      const open = this.openPaths(pid);
      const gone = mine.filter((x) => x !== v && !open.has(x));
      for (const x of gone) this.removeView(x);
      mine = mine.filter((x) => !gone.includes(x));
      while (mine.length > 1024) this.removeView(mine.shift()!);
    }
    this.views.set(pid, mine);
    return v;
  }

  /** The files a process has open and its working directory (views in use). */
  private openPaths(pid: number): Set<string> {
    const out = new Set<string>();
    const add = (link: string) => {
      try {
        out.add(fs.readlinkSync(link));
      } catch {
        /* closed meanwhile */
      }
    };
    add(`/proc/${pid}/cwd`);
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) add(`/proc/${pid}/fd/${fd}`);
    } catch {
      /* the process is gone: nothing is in use */
    }
    return out;
  }

  /** A process's connection went: its views go with the process itself. A process that exec'd
   * (a shell running its last command) is still there and may sit in one, so they wait until
   * it is gone (or a zombie), checked every second without keeping the server up. */
  dropViews(pid: number): void {
    if (!this.views.has(pid)) return;
    let gone = true;
    try {
      gone = /^\d+ \(.*\) Z /s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      /* no such process */
    }
    if (!gone) {
      setTimeout(() => this.dropViews(pid), 1000).unref();
      return;
    }
    for (const v of this.views.get(pid) ?? []) this.removeView(v);
    this.views.delete(pid);
  }

  /** A view holds only empty files and empty directories, one level deep: removed entry by
   * entry, each failure ignored (a tool may have mounted something on it, or sit in it). */
  private removeView(v: string): void {
    this.viewOf.delete(v);
    const tryRm = (f: () => void) => {
      try {
        f();
      } catch {
        /* left behind */
      }
    };
    tryRm(() => {
      for (const e of fs.readdirSync(v, { withFileTypes: true })) {
        const p = path.join(v, e.name);
        tryRm(() => (e.isDirectory() ? fs.rmdirSync(p) : fs.unlinkSync(p)));
      }
    });
    tryRm(() => fs.rmdirSync(v));
    tryRm(() => fs.unlinkSync(`${v}.path`));
  }

  /** A path inside one of the views, as the bpffs path it stands for (relative paths of a
   * process whose working directory is a view); other paths unchanged. */
  fromView(p: string): string {
    if (!this.root || !p.startsWith(this.root + '/')) return p;
    const rest = p.slice(this.root.length + 1);
    const slash = rest.indexOf('/');
    const base = this.viewOf.get(path.join(this.root, slash < 0 ? rest : rest.slice(0, slash)));
    return base === undefined ? p : slash < 0 ? base : path.posix.join(base, rest.slice(slash));
  }
}
