// open() of the files the server serves (tracefs, the uprobe/kprobe PMU descriptions): the shim
// forwards opens under those paths; the answer is a memfd holding the file's content.
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { CallContext } from './context';
import { procFdinfo } from './fdinfo';
import { TracefsView } from '../../tracefs/view';
import { log } from '../log';

const O_ACCMODE = 3;
const PATH_MAX = 4096;

export function sysOpen(ctx: CallContext, pathAddr: bigint, flags: number): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  const fdinfo = procFdinfo(ctx, p);
  if (fdinfo) return ctx.returnOwnedFd(memfdWith(p, fdinfo));
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

function memfdWith(p: string, content: Buffer): number {
  const fd = addon.memfdCreate(`bpftime-file:${p.split('/').pop()}`, 0);
  if (fd < 0) throw new KernelError(-fd, 'memfd_create failed');
  require('fs').writeSync(fd, content, 0, content.length, 0);
  return fd;
}

const O_TRUNC = 0o1000;

/** uprobe_events opened for writing: O_TRUNC removes every event first (EBUSY when one is in
 * use), as the kernel's open does; the shim then sends each write() here (sysWrite). */
function openForWriting(ctx: CallContext, p: string, flags: number): bigint {
  if (!TracefsView.isWritable(p)) throw new KernelError(Errno.EACCES, `${p} is read-only`);
  if (flags & O_TRUNC) ctx.kernel.tracefs.uprobes.clear();
  const f = ctx.kernel.tracefs.read(p);
  return ctx.returnOwnedFd(memfdWith(p, f.kind === 'file' ? f.content : Buffer.alloc(0)));
}

/** write() to a served file opened for writing: each line a uprobe_events command, parsed and
 * applied now, the call failing with the command's errno as on the kernel. */
export function sysWrite(ctx: CallContext, pathAddr: bigint, bufAddr: bigint, len: bigint): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  if (!TracefsView.isWritable(p)) throw new KernelError(Errno.EBADF, `${p} is not open for writing`);
  if (len === 0n) return 0n;
  if (len > BigInt(MAX_RW_COUNT)) len = BigInt(MAX_RW_COUNT);
  const data = ctx.mem.read(bufAddr, Number(len));
  return BigInt(ctx.kernel.tracefs.uprobes.write(data, ctx.client.pid));
}

const MAX_RW_COUNT = 0x7ffff000; // what one write() moves at most on Linux

const W_OK = 2;

/** access()/faccessat() under the served paths: exists, and read-only. */
export function sysAccess(ctx: CallContext, pathAddr: bigint, mode: number): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  const kind = ctx.kernel.tracefs.exists(p);
  if (!kind) throw new KernelError(Errno.ENOENT, `${p} does not exist`);
  if (mode & W_OK) throw new KernelError(Errno.EACCES, `${p} is read-only`);
  return 0n;
}
