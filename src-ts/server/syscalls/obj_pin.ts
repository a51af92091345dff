// BPF_OBJ_PIN and BPF_OBJ_GET, as bpf_obj_pin()/bpf_obj_get() and kernel/bpf/inode.c answer
// them, on the runtime's bpf filesystem (src-ts/kernel/bpffs.ts).
import * as fs from 'fs';
import * as path from 'path';
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { CallContext, Struct } from './context';
import { fileAccess } from './fds';

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
  return path.posix.join(cwd, p);
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
  ctx.kernel.bpffs.pin(p, obj);
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
