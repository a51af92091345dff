// BPF_OBJ_PIN and BPF_OBJ_GET, as bpf_obj_pin()/bpf_obj_get() and kernel/bpf/inode.c answer
// them, on the runtime's bpf filesystem (src-ts/kernel/bpffs.ts).
import * as fs from 'fs';
import * as path from 'path';
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { CallContext, Struct } from './context';
import { AttrChange, BPFFS_ROOT, Creator, InodeMeta } from '../../kernel/bpffs';
import { fileAccess } from './fds';
import { TracefsView } from '../../tracefs/view';
import { tracefsFileOp } from './files';
import { mapFileText } from './map_file';
import { addon } from '../../native/addon';

const O = U.bpf_attr.obj;
const PATH_MAX = 4096;

/** The pathname argument as getname() reads it, made absolute against the caller's cwd. */
function userPath(ctx: CallContext, addr: bigint): string {
  let p: string;
  try {
    p = ctx.mem.readString(addr, PATH_MAX);
  } catch (e) {
    if (e instanceof KernelError && e.errno === Errno.E2BIG) throw new KernelError(Errno.ENAMETOOLONG, 'path too long');
    throw e;
  }
  if (p === '') throw new KernelError(Errno.ENOENT, 'empty path');
  if (p.startsWith('/')) return p;
  // AT_FDCWD: the caller's working directory, from its /proc entry (the socket's peer pid).
  let cwd: string;
  try {
    cwd = fs.readlinkSync(`/proc/${ctx.client.peerPid}/cwd`);
  } catch {
    throw new KernelError(Errno.ENOENT, 'cannot resolve a relative path: caller cwd unknown');
  }
  // A caller sitting in a directory view of the bpffs is in that bpffs directory.
  return path.posix.join(ctx.kernel.bpffs.fromView(cwd), p);
}

/** bpf_fd_probe_obj(): a map, a program or a link; anything else (a closed fd included) is
 * EINVAL, since the probe tries each kind and reports the last failure as EINVAL. */
function pinnable(ctx: CallContext, fd: number): BpfObject {
  let o: BpfObject | null = null;
  try {
    o = ctx.object(fd);
  } catch {
    /* closed, or not one of ours: EINVAL either way */
  }
  if (!o || (o.kind !== ObjKind.Map && o.kind !== ObjKind.Prog && o.kind !== ObjKind.Link)) {
    throw new KernelError(Errno.EINVAL, `fd ${fd} is not a map, program or link`);
  }
  return o;
}

export function objPin(ctx: CallContext, attr: Struct): bigint {
  // BPF_F_PATH_FD (newer than our uapi header) is the only flag a kernel knows here.
  if (attr.u32(O.file_flags)) throw new KernelError(Errno.EINVAL, 'unknown file_flags');
  const obj = pinnable(ctx, attr.s32(O.bpf_fd));
  const p = userPath(ctx, attr.u64(O.pathname));
  ctx.kernel.bpffs.pin(p, obj, creator(ctx));
  return 0n;
}

export function objGet(ctx: CallContext, attr: Struct): bigint {
  const flags = attr.u32(O.file_flags);
  if (attr.u32(O.bpf_fd) !== 0 || flags & ~(U.BPF_F_RDONLY | U.BPF_F_WRONLY)) {
    throw new KernelError(Errno.EINVAL, 'bpf_fd must be 0 and file_flags only RDONLY/WRONLY');
  }
  const access = fileAccess(flags);
  const obj = ctx.kernel.bpffs.get(userPath(ctx, attr.u64(O.pathname)));
  // A link fd is only ever read-write; programs ignore the mode; maps get it (see obj_ids.ts).
  if (obj.kind === ObjKind.Link && flags) throw new KernelError(Errno.EINVAL, 'links open read-write only');
  return ctx.returnFd(obj, obj.kind === ObjKind.Map ? access : undefined);
}

export const OBJ_END = O.file_flags.off + O.file_flags.size;

/** The caller's fsuid, fsgid and umask (new bpffs inodes belong to them), from /proc. */
export function creator(ctx: CallContext): Creator {
  try {
    const st = fs.readFileSync(`/proc/${ctx.client.peerPid}/status`, 'utf8');
    const field = (name: string) => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(st)?.[1] ?? '').trim().split(/\s+/);
    return { uid: Number(field('Uid')[3] ?? 0), gid: Number(field('Gid')[3] ?? 0), umask: parseInt(field('Umask')[0] || '22', 8) };
  } catch {
    return { uid: 0, gid: 0, umask: 0o22 };
  }
}

/** File operations of the shim on paths of the runtime's /sys/fs/bpf (BPFTIME_OP_BPFFS). */
export const enum BpffsOp {
  Stat = 1,
  Mkdir = 2,
  Rmdir = 3,
  Unlink = 4,
  Rename = 5,
  OpenDir = 6,
  Chmod = 7, // arg: mode
  Chown = 8, // arg: uid, out: gid (each -1 for unchanged)
  Utimes = 9, // out: the two struct timespec of utimensat(), or 0 for "now"
}

const UTIME_NOW = (1 << 30) - 1;
const UTIME_OMIT = (1 << 30) - 2;

/** What a chmod, chown or utimensat asks to change (the shim checked the flags). */
export function attrChange(ctx: CallContext, op: number, arg: number, out: bigint): AttrChange {
  if (op === BpffsOp.Chmod) return { mode: arg };
  if (op === BpffsOp.Chown) {
    const gid = Number(out & 0xffffffffn);
    return { chown: true, uid: arg === 0xffffffff ? undefined : arg, gid: gid === 0xffffffff ? undefined : gid };
  }
  if (out === 0n) return { atimeNs: 'now', mtimeNs: 'now' };
  const b = ctx.mem.read(out, 32);
  const time = (i: number): bigint | 'now' | undefined => {
    const sec = b.readBigInt64LE(i * 16);
    const nsec = b.readBigInt64LE(i * 16 + 8);
    if (nsec === BigInt(UTIME_NOW)) return 'now';
    if (nsec === BigInt(UTIME_OMIT)) return undefined;
    if (nsec < 0n || nsec >= 1000000000n) throw new KernelError(Errno.EINVAL, 'tv_nsec out of range');
    return sec * 1000000000n + nsec;
  };
  return { atimeNs: time(0), mtimeNs: time(1) };
}

/** struct bpftime_bpffs_stat (src-native/shim/bpffs.c): what the shim turns into struct stat
 * and struct statx. */
const STAT_SIZE = 64;

function encodeStat(ctx: CallContext, p: string, of?: { kind: 'dir' | 'pin'; meta: InodeMeta; nlink: number }): Buffer {
  const { kind, meta, nlink } = of ?? ctx.kernel.bpffs.inode(p);
  let dev = 0;
  try {
    dev = fs.statSync(ctx.kernel.bpffs.owns(p) ? BPFFS_ROOT : path.posix.dirname(p)).dev;
  } catch {
    /* no such directory on this machine: device 0 */
  }
  return statBuffer(kind === 'dir', meta, nlink, dev);
}

/** struct bpftime_bpffs_stat of one inode (also for served tracefs paths: files.ts). */
export function statBuffer(dir: boolean, meta: InodeMeta, nlink: number, dev: number): Buffer {
  const b = Buffer.alloc(STAT_SIZE);
  b.writeUInt32LE(dir ? 1 : 2, 0);
  b.writeUInt32LE(meta.mode, 4);
  b.writeBigUInt64LE(BigInt(meta.ino), 8);
  b.writeBigUInt64LE(BigInt(dev), 16);
  b.writeUInt32LE(nlink, 24);
  b.writeUInt32LE(meta.uid, 28);
  b.writeUInt32LE(meta.gid, 32);
  b.writeBigInt64LE(meta.atimeNs, 40);
  b.writeBigInt64LE(meta.mtimeNs, 48);
  b.writeBigInt64LE(meta.ctimeNs, 56);
  return b;
}

/** The answer "not ours: let the real filesystem do it" (BPFFS_REAL in src-native/shim/bpffs.c). */
const BPFFS_REAL = 1000;
const real = (): never => {
  throw new KernelError(BPFFS_REAL, 'the real filesystem answers');
};

/** rename of a real entry of a bpf mount: the kernel's, unless pins are involved: over a pin
 * (ENOTDIR for a directory, else the pin gives way), over a directory holding pins (ENOTEMPTY),
 * or a directory holding pins moved (the server renames it and moves the pins along). */
function renameReal(ctx: CallContext, p: string, q: string, flags: number): bigint {
  const bpffs = ctx.kernel.bpffs;
  const a = bpffs.canonical(p);
  const b = bpffs.canonical(q);
  const target = bpffs.pinAt(b);
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(a);
  } catch {
    return real();
  }
  if (target) {
    if (flags & 1) throw new KernelError(Errno.EEXIST, `${b} exists`);
    if (st.isDirectory()) throw new KernelError(Errno.ENOTDIR, `${b} is not a directory`);
    return real(); // a kernel pin over one of ours: not offered; the real call says what it says
  }
  if (bpffs.children(b).length) throw new KernelError(Errno.ENOTEMPTY, `${b} holds pins`);
  const moving = st.isDirectory() && bpffs.pins().some((x) => x.path.startsWith(a + '/'));
  if (!moving) return real();
  if (!bpffs.onRealMount(b)) throw new KernelError(Errno.EXDEV, 'rename across filesystems');
  if (flags) throw new KernelError(Errno.EINVAL, 'flags are not offered for a directory holding pins');
  try {
    fs.renameSync(a, b);
  } catch (e) {
    throw new KernelError(-(Number((e as NodeJS.ErrnoException).errno) || -Errno.EIO), `rename ${a}: ${(e as Error).message}`);
  }
  for (const x of bpffs.pins()) if (x.path.startsWith(a + '/')) bpffs.movePin(x.path, b + x.path.slice(a.length));
  return 0n;
}

/** On a real bpf mount the pins are ours and the rest is real: each operation either handles a
 * pin (or what a pin changes, as a directory that is not empty) or hands the call back. */
function realMountOp(ctx: CallContext, op: number, p: string, path2Addr: bigint, arg: number, outAddr: bigint): bigint {
  const bpffs = ctx.kernel.bpffs;
  const pin = bpffs.pinAt(p);
  const C = fs.constants;
  // A pin on the way is not a directory, whatever follows it ("pin/", "pin/x").
  for (let d = path.posix.dirname(bpffs.canonical(p)); bpffs.onRealMount(d); d = path.posix.dirname(d)) {
    if (bpffs.pinAt(d)) throw new KernelError(Errno.ENOTDIR, `${d} is not a directory`);
  }
  if (pin && p.endsWith('/')) throw new KernelError(Errno.ENOTDIR, `${p} is not a directory`);
  switch (op) {
    case BpffsOp.Stat:
      if (!pin) return real();
      ctx.mem.write(outAddr, encodeStat(ctx, p, { kind: 'pin', meta: pin.meta, nlink: 1 }));
      return 0n;
    case BpffsOp.Unlink:
      if (!pin) return real();
      bpffs.unlink(p);
      return 0n;
    case BpffsOp.Rmdir:
      if (bpffs.children(p).length) throw new KernelError(Errno.ENOTEMPTY, `${p} holds pins`);
      if (pin) throw new KernelError(Errno.ENOTDIR, `${p} is a pinned object`);
      return real();
    case BpffsOp.Mkdir:
      if (pin) throw new KernelError(Errno.EEXIST, `${p} exists`);
      return real();
    case BpffsOp.Rename: {
      const q = userPath(ctx, path2Addr);
      if (!pin) return renameReal(ctx, p, q, arg);
      if (!bpffs.onRealMount(q) || path.posix.dirname(bpffs.canonical(q)) === '/') throw new KernelError(Errno.EXDEV, 'rename across filesystems');
      if (arg & ~1) throw new KernelError(Errno.EINVAL, 'only RENAME_NOREPLACE is offered');
      const target = bpffs.pinAt(q);
      let st: fs.Stats | null = null;
      try {
        st = fs.lstatSync(q);
      } catch {
        /* absent */
      }
      if (st?.isDirectory()) throw new KernelError(Errno.EISDIR, `${q} is a directory`);
      if ((target || st) && arg & 1) throw new KernelError(Errno.EEXIST, `${q} exists`);
      if (st) throw new KernelError(Errno.EPERM, `${q} is the kernel's: not replaced by a pin of this runtime`);
      if (bpffs.canonical(q) === bpffs.canonical(p)) return 0n;
      if (target) bpffs.unlink(q);
      bpffs.movePin(p, q);
      return 0n;
    }
    case BpffsOp.Chmod:
    case BpffsOp.Chown:
    case BpffsOp.Utimes:
      if (!pin) return real();
      bpffs.setattr(p, attrChange(ctx, op, arg, outAddr), creator(ctx));
      return 0n;
    case BpffsOp.OpenDir: {
      if (pin) {
        if (arg & C.O_CREAT && arg & C.O_EXCL) throw new KernelError(Errno.EEXIST, `${p} exists`);
        if (arg & C.O_DIRECTORY) throw new KernelError(Errno.ENOTDIR, `${p} is a pinned object`);
        return openPin(ctx, p, pin.obj, pin.meta.mode);
      }
      let isDir = false;
      try {
        isDir = fs.statSync(p).isDirectory();
      } catch {
        /* the real open gives the error */
      }
      if (!isDir || (arg & 3) !== C.O_RDONLY || arg & C.O_CREAT) return real();
      const view = bpffs.makeView(p, ctx.client.pid);
      return ctx.returnOwnedFd(fs.openSync(view, C.O_RDONLY | C.O_DIRECTORY));
    }
    default:
      throw new KernelError(Errno.ENOSYS, `unknown bpffs operation ${op}`);
  }
}

/** A pin opened as a file: a map with BTF reads as its elements' text (map_file.ts), anything
 * else is refused as bpffs_obj_open() refuses it (EIO). The fd reads only (a write fails). */
function openPin(ctx: CallContext, p: string, obj: BpfObject, mode: number): bigint {
  const text = mapFileText(ctx, obj);
  if (text === null) throw new KernelError(Errno.EIO, `${p} is a pinned object`);
  const fd = addon.memfdCreate(`bpftime-file:${path.posix.basename(p)}`, 0);
  if (fd < 0) throw new KernelError(-fd, 'memfd_create failed');
  try {
    fs.writeSync(fd, Buffer.from(text), 0, undefined, 0);
    fs.fchmodSync(fd, mode & 0o7777); // fstat shows the pin's mode (its size is the text's, not 0)
    return ctx.returnOwnedFd(fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY));
  } finally {
    fs.closeSync(fd);
  }
}

export function sysBpffs(ctx: CallContext, op: number, pathAddr: bigint, path2Addr: bigint, arg: number, outAddr: bigint): bigint {
  const bpffs = ctx.kernel.bpffs;
  const p = userPath(ctx, pathAddr);
  // the same calls on the served tracefs (its directories listed and stat'ed: files.ts)
  if (TracefsView.inTracefs(p) || (op === BpffsOp.Rename && TracefsView.inTracefs(userPath(ctx, path2Addr)))) {
    return tracefsFileOp(ctx, op, p, op === BpffsOp.Rename ? userPath(ctx, path2Addr) : '', arg, outAddr);
  }
  if (!bpffs.owns(p)) {
    if (op === BpffsOp.Rename && bpffs.owns(userPath(ctx, path2Addr))) throw new KernelError(Errno.EXDEV, 'rename across filesystems');
    if (!bpffs.onRealMount(p)) return real();
    return realMountOp(ctx, op, p, path2Addr, arg, outAddr);
  }
  switch (op) {
    case BpffsOp.Stat:
      ctx.mem.write(outAddr, encodeStat(ctx, p));
      return 0n;
    case BpffsOp.Mkdir:
      bpffs.mkdir(p, arg, creator(ctx));
      return 0n;
    case BpffsOp.Rmdir:
      bpffs.rmdir(p);
      return 0n;
    case BpffsOp.Unlink:
      bpffs.unlink(p);
      return 0n;
    case BpffsOp.Rename:
      bpffs.rename(p, userPath(ctx, path2Addr), arg);
      return 0n;
    case BpffsOp.Chmod:
    case BpffsOp.Chown:
    case BpffsOp.Utimes:
      bpffs.setattr(p, attrChange(ctx, op, arg, outAddr), creator(ctx));
      return 0n;
    case BpffsOp.OpenDir: {
      const C = fs.constants;
      let kind: 'dir' | 'pin';
      try {
        kind = bpffs.inode(p).kind;
      } catch (e) {
        // A new name: bpffs directories have no create operation (EACCES), once the parent is
        // found to be a directory.
        if (!(arg & C.O_CREAT) || !(e instanceof KernelError) || e.errno !== Errno.ENOENT) throw e;
        if (bpffs.inode(path.posix.dirname(p)).kind !== 'dir') throw new KernelError(Errno.ENOTDIR, `${path.posix.dirname(p)} is not a directory`);
        throw new KernelError(Errno.EACCES, `${p}: files cannot be created in a bpf filesystem`);
      }
      if (kind === 'pin') {
        if (arg & C.O_CREAT && arg & C.O_EXCL) throw new KernelError(Errno.EEXIST, `${p} exists`);
        if (arg & C.O_DIRECTORY) throw new KernelError(Errno.ENOTDIR, `${p} is a pinned object`);
        return openPin(ctx, p, bpffs.pinAt(p)!.obj, bpffs.pinAt(p)!.meta.mode);
      }
      if ((arg & 3) !== C.O_RDONLY || arg & C.O_CREAT) throw new KernelError(Errno.EISDIR, `${p} is a directory`);
      const view = bpffs.makeView(p, ctx.client.pid);
      return ctx.returnOwnedFd(fs.openSync(view, C.O_RDONLY | C.O_DIRECTORY));
    }
    default:
      throw new KernelError(Errno.ENOSYS, `unknown bpffs operation ${op}`);
  }
}
