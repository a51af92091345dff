// open() of the files the server serves (tracefs, the uprobe/kprobe PMU descriptions): the shim
// forwards opens under those paths; the answer is a memfd holding the file's content.
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { CallContext } from './context';
import { procFdinfo } from './fdinfo';

const O_ACCMODE = 3;
const PATH_MAX = 4096;

export function sysOpen(ctx: CallContext, pathAddr: bigint, flags: number): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  const fdinfo = procFdinfo(ctx, p);
  if (fdinfo) return ctx.returnOwnedFd(memfdWith(p, fdinfo));
  const f = ctx.kernel.tracefs.read(p);
  if (f.kind === 'not-served') throw new KernelError(Errno.ENOENT, `${p} is not served`);
  if (f.kind === 'missing') throw new KernelError(Errno.ENOENT, `${p} does not exist`);
  if ((flags & O_ACCMODE) !== 0) throw new KernelError(Errno.EACCES, `${p} is read-only`);
  if (f.kind === 'trace_pipe') return ctx.returnOwnedFd(ctx.kernel.tracePipe.open());
  return ctx.returnOwnedFd(memfdWith(p, f.content));
}

function memfdWith(p: string, content: Buffer): number {
  const fd = addon.memfdCreate(`bpftime-file:${p.split('/').pop()}`, 0);
  if (fd < 0) throw new KernelError(-fd, 'memfd_create failed');
  require('fs').writeSync(fd, content, 0, content.length, 0);
  return fd;
}

const W_OK = 2;

/** access()/faccessat() under the served paths: exists, and read-only. */
export function sysAccess(ctx: CallContext, pathAddr: bigint, mode: number): bigint {
  const p = ctx.mem.readString(pathAddr, PATH_MAX);
  const kind = ctx.kernel.tracefs.exists(p);
  if (!kind) throw new KernelError(Errno.ENOENT, `${p} does not exist`);
  if (mode & W_OK) throw new KernelError(Errno.EACCES, `${p} is read-only`);
  return 0n;
}
