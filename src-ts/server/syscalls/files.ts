// open() of the files the server serves (tracefs, the uprobe/kprobe PMU descriptions): the shim
// forwards opens under those paths; the answer is a memfd holding the file's content.
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { CallContext } from './context';
import { procFdinfo } from './fdinfo';
import { TracefsView } from '../../tracefs/view';
import { log } from '../log';
import * as fs from 'fs';
import * as path from 'path';
import { S_IFDIR, S_IFREG, InodeMeta, applyAttrChange } from '../../kernel/bpffs';
import { attrChange, creator, statBuffer } from './obj_pin';

const O_ACCMODE = 3;
const PATH_MAX = 4096;

export function sysOpen(ctx: CallContext, pathAddr: bigint, flags: number): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  const fdinfo = procFdinfo(ctx, p);
  if (fdinfo) return ctx.returnOwnedFd(memfdWith(p, fdinfo));
  if (TracefsView.inTracefs(p)) {
    const node = ctx.kernel.tracefs.node(p);
    if (node.kind === 'notdir') throw new KernelError(Errno.ENOTDIR, `${p}: not a directory`);
    if (node.kind === 'dir') return openDir(ctx, p, node.entries, flags);
    if (node.kind === 'file' && flags & fs.constants.O_DIRECTORY) throw new KernelError(Errno.ENOTDIR, `${p} is a file`);
  }
  const f = ctx.kernel.tracefs.read(p);
  if (f.kind === 'not-served') throw new KernelError(Errno.ENOENT, `${p} is not served`);
  if (f.kind === 'missing') {
    explainMissingTracepoint(ctx, p);
    throw new KernelError(Errno.ENOENT, `${p} does not exist`);
  }
  if ((flags & O_ACCMODE) !== 0) return openForWriting(ctx, p, flags);
  if (f.kind === 'trace_pipe') return ctx.returnOwnedFd(ctx.kernel.tracePipe.open());
  return ctx.returnOwnedFd(memfdWith(p, f.content));
}

/** A tool that reads a tracepoint's id is about to attach to it: when it is not served, say
 * why in the server's log, naming it (the tool itself only sees ENOENT, as from a kernel
 * without that tracepoint). */
function explainMissingTracepoint(ctx: CallContext, p: string): void {
  const m = /\/events\/([^/]+)\/([^/]+)\/id$/.exec(p);
  if (!m) return;
  const who = `${ctx.client.comm}[${ctx.client.pid}]`;
  if (m[1] === 'syscalls' || m[1] === 'raw_syscalls') {
    log(`${who}: no tracepoint ${m[1]}:${m[2]} on this kernel; refused with ENOENT`);
  } else {
    log(`${who}: tracepoint ${m[1]}:${m[2]} is a kernel tracepoint, not available in userspace (only syscalls:* and raw_syscalls:* are); refused with ENOENT`);
  }
}

/** A served tracefs directory opened (ls, find, os.listdir): libc lists it with getdents64,
 * out of the shim's reach, so the fd is on a real directory holding the same names (a view, made
 * and dropped as the bpffs's are), which the shim maps back to p for calls relative to it. */
function openDir(ctx: CallContext, p: string, entries: Array<{ name: string; dir: boolean }>, flags: number): bigint {
  const C = fs.constants;
  if ((flags & O_ACCMODE) !== C.O_RDONLY || flags & C.O_CREAT) throw new KernelError(Errno.EISDIR, `${p} is a directory`);
  const view = ctx.kernel.bpffs.makeListing(normal(p), entries.map((e) => ({ name: e.name, kind: e.dir ? ('dir' as const) : ('pin' as const) })), ctx.client.pid);
  return ctx.returnOwnedFd(fs.openSync(view, C.O_RDONLY | C.O_DIRECTORY));
}

const normal = (p: string): string => path.posix.normalize(p).replace(/(.)\/+$/, '$1');

/** File operations of the shim (BPFTIME_OP_BPFFS) on served tracefs paths: stat as tracefs shows
 * its inodes, with the attribute changes (chmod, chown, utimensat) made since; the namespace
 * cannot change (EPERM, as tracefs has no such operations outside instances/; EXDEV for a rename
 * across filesystems), after the path walk's own errors. */
export function tracefsFileOp(ctx: CallContext, op: number, p: string, to: string, arg: number, outAddr: bigint): bigint {
  const view = ctx.kernel.tracefs;
  const node = view.node(p);
  const Stat = 1;
  const Mkdir = 2;
  const Rename = 5;
  const Chmod = 7;
  const Chown = 8;
  const Utimes = 9;
  if (op === Mkdir) {
    if (node.kind === 'dir' || node.kind === 'file') throw new KernelError(Errno.EEXIST, `${p} exists`);
    const parent = view.node(path.posix.dirname(normal(p)));
    if (parent.kind === 'missing') throw new KernelError(Errno.ENOENT, `${path.posix.dirname(p)} does not exist`);
    if (parent.kind !== 'dir') throw new KernelError(Errno.ENOTDIR, `${path.posix.dirname(p)} is not a directory`);
    throw new KernelError(Errno.EPERM, `${p}: tracefs makes no directories here`);
  }
  if (node.kind === 'missing') throw new KernelError(Errno.ENOENT, `${p} does not exist`);
  if (node.kind === 'notdir') throw new KernelError(Errno.ENOTDIR, `${p}: not a directory`);
  const dir = node.kind === 'dir';
  if (op === Stat) {
    // eventfs directories count no links; the root counts its subdirectories as any directory
    const isRoot = dir && TracefsView.modeOf(p, true) === 0o700;
    const nlink = !dir ? 1 : isRoot ? 2 + node.entries.filter((e) => e.dir).length : 1;
    ctx.mem.write(outAddr, statBuffer(dir, tracefsMeta(view, p, dir), nlink, tracefsDev()));
    return 0n;
  }
  if (op === Chmod || op === Chown || op === Utimes) {
    // tracefs and eventfs inodes take attribute changes (root may change any)
    applyAttrChange(p, tracefsMeta(view, p, dir), attrChange(ctx, op, arg, outAddr), creator(ctx));
    return 0n;
  }
  if (op === Rename && to && !TracefsView.inTracefs(to)) throw new KernelError(Errno.EXDEV, 'rename across filesystems');
  log(`${ctx.client.comm}[${ctx.client.pid}]: ${p}: the served tracefs does not change (operation ${op}); refused with EPERM`);
  throw new KernelError(Errno.EPERM, `${p}: not changed in the served tracefs`);
}

/** What stat shows of a served tracefs path, kept per path (the same under both roots) once an
 * attribute change made it differ from tracefs's defaults: root's, the modes of modeOf(),
 * boot-time times. */
const metas = new WeakMap<TracefsView, Map<number, InodeMeta>>();
function tracefsMeta(view: TracefsView, p: string, dir: boolean): InodeMeta {
  let m = metas.get(view);
  if (!m) metas.set(view, (m = new Map()));
  const ino = inodeOf(p);
  let meta = m.get(ino);
  if (!meta) {
    const t = bootTimeNs();
    meta = { ino, mode: (dir ? S_IFDIR : S_IFREG) | TracefsView.modeOf(p, dir), uid: 0, gid: 0, atimeNs: t, mtimeNs: t, ctimeNs: t };
    m.set(ino, meta);
  }
  return meta;
}

/** A stable inode number per tracefs path, the same under both roots (one filesystem). */
function inodeOf(p: string): number {
  let rel = normal(p);
  for (const r of ['/sys/kernel/debug/tracing', '/sys/kernel/tracing']) if (rel === r || rel.startsWith(r + '/')) rel = rel.slice(r.length);
  const h = require('crypto').createHash('sha256').update(rel).digest();
  return h.readUInt32LE(0) + 2; // 1 is reserved for the root's parent-less inode numbering
}

/** tracefs inodes date from boot (its files are made as the kernel starts). */
let bootNs: bigint | null = null;
function bootTimeNs(): bigint {
  if (bootNs === null) {
    const m = /^btime (\d+)$/m.exec(safeRead('/proc/stat'));
    bootNs = m ? BigInt(m[1]) * 1000000000n : 0n;
  }
  return bootNs;
}

/** The device of the machine's tracefs when one is mounted, so that stat agrees with it; 0
 * otherwise. */
function tracefsDev(): number {
  try {
    return fs.statSync('/sys/kernel/tracing/events').dev;
  } catch {
    return 0;
  }
}

function safeRead(f: string): string {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

function memfdWith(p: string, content: Buffer): number {
  const fd = addon.memfdCreate(`bpftime-file:${p.split('/').pop()}`, 0);
  if (fd < 0) throw new KernelError(-fd, 'memfd_create failed');
  fs.writeSync(fd, content, 0, content.length, 0);
  return fd;
}

const O_TRUNC = 0o1000;

/** uprobe_events opened for writing: O_TRUNC removes every event first (EBUSY when one is in
 * use), as the kernel's open does; the shim then sends each write() here (sysWrite). */
function openForWriting(ctx: CallContext, p: string, flags: number): bigint {
  // tracefs lets root open any of its files for writing (a file without a write handler then
  // fails each write with EINVAL); sysfs refuses read-only attributes at open (EACCES)
  if (!TracefsView.inTracefs(p)) throw new KernelError(Errno.EACCES, `${p} is read-only`);
  if (!TracefsView.isWritable(p) && callerFsuid(ctx) !== 0 && !(TracefsView.modeOf(p, false) & 0o002)) throw new KernelError(Errno.EACCES, `${p}: permission denied`);
  if (flags & O_TRUNC && TracefsView.isWritable(p)) ctx.kernel.tracefs.uprobes.clear();
  const f = ctx.kernel.tracefs.read(p);
  return ctx.returnOwnedFd(memfdWith(p, f.kind === 'file' ? f.content : Buffer.alloc(0)));
}

/** write() to a served file opened for writing: each line a uprobe_events command, parsed and
 * applied now, the call failing with the command's errno as on the kernel. */
export function sysWrite(ctx: CallContext, pathAddr: bigint, bufAddr: bigint, len: bigint): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  if (!TracefsView.isWritable(p)) {
    // id, format, available_events, trace_pipe have no write handler (EINVAL, as vfs_write);
    // enable, filter and trigger would change ftrace, which is not offered here
    if (/\/(enable|filter|trigger|kprobe_events)$/.test(p)) log(`${ctx.client.comm}[${ctx.client.pid}]: write to ${p}: ftrace event control is not offered; refused with EINVAL`);
    throw new KernelError(Errno.EINVAL, `${p} takes no writes here`);
  }
  if (len === 0n) return 0n;
  if (len > BigInt(MAX_RW_COUNT)) len = BigInt(MAX_RW_COUNT);
  const data = ctx.mem.read(bufAddr, Number(len));
  return BigInt(ctx.kernel.tracefs.uprobes.write(data, ctx.client.pid));
}

const MAX_RW_COUNT = 0x7ffff000; // what one write() moves at most on Linux

const W_OK = 2;

const X_OK = 1;
const R_OK = 4;

/** access()/faccessat() under the served paths: the path walk's errors, then the mode bits as
 * the kernel checks them (root reads and writes anything, and executes what has an x bit; files
 * belong to root). The PMU descriptions are read-only sysfs files (0444). */
export function sysAccess(ctx: CallContext, pathAddr: bigint, mode: number): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  let dir: boolean;
  if (TracefsView.inTracefs(p)) {
    const node = ctx.kernel.tracefs.node(p);
    if (node.kind === 'missing') throw new KernelError(Errno.ENOENT, `${p} does not exist`);
    if (node.kind === 'notdir') throw new KernelError(Errno.ENOTDIR, `${p}: not a directory`);
    dir = node.kind === 'dir';
  } else {
    const kind = ctx.kernel.tracefs.exists(p);
    if (!kind) throw new KernelError(Errno.ENOENT, `${p} does not exist`);
    dir = kind === 'dir';
  }
  const meta = TracefsView.inTracefs(p) ? tracefsMeta(ctx.kernel.tracefs, p, dir) : { mode: dir ? 0o755 : 0o444, uid: 0, gid: 0 };
  const bits = meta.mode & 0o777;
  const who = creator(ctx);
  const own = who.uid === meta.uid ? bits >> 6 : who.gid === meta.gid ? bits >> 3 : bits;
  const allowed = who.uid === 0 ? R_OK | W_OK | (bits & 0o111 ? X_OK : 0) : own & 7;
  if (mode & ~allowed & 7) throw new KernelError(Errno.EACCES, `${p}: permission denied`);
  return 0n;
}

/** The caller's fsuid (from /proc: the server may run as root for a tool that does not). */
function callerFsuid(ctx: CallContext): number {
  const m = /^Uid:\s+\d+\s+\d+\s+\d+\s+(\d+)/m.exec(safeRead(`/proc/${ctx.client.peerPid}/status`));
  return m ? Number(m[1]) : 0;
}
