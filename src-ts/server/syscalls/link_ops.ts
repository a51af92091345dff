// Operations on existing links: BPF_LINK_UPDATE, BPF_LINK_DETACH and BPF_ITER_CREATE, as
// link_update(), link_detach() and bpf_iter_create() answer them. The only links here are perf
// links (BPF_LINK_CREATE with BPF_PERF_EVENT), whose kernel ops have neither update_prog (EINVAL)
// nor detach (EOPNOTSUPP), and which are not iterators (EINVAL).
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { CallContext, Struct } from './context';
import { linkOf, progOf } from './fds';

const LU = U.bpf_attr.link_update;

export function linkUpdate(ctx: CallContext, attr: Struct): bigint {
  const flags = attr.u32(LU.flags);
  if (flags & ~U.BPF_F_REPLACE) throw new KernelError(Errno.EINVAL, 'unknown flags');
  linkOf(ctx, attr.s32(LU.link_fd));
  progOf(ctx, attr.s32(LU.new_prog_fd));
  if (flags & U.BPF_F_REPLACE) progOf(ctx, attr.s32(LU.old_prog_fd));
  else if (attr.u32(LU.old_prog_fd)) throw new KernelError(Errno.EINVAL, 'old_prog_fd without BPF_F_REPLACE');
  // bpf_perf_link_lops has no update_prog: link_update() answers EINVAL.
  throw new KernelError(Errno.EINVAL, 'perf links cannot change their program');
}

export function linkDetach(ctx: CallContext, attr: Struct): bigint {
  linkOf(ctx, attr.s32(U.bpf_attr.link_detach.link_fd));
  throw new KernelError(Errno.EOPNOTSUPP, 'perf links cannot be detached without closing them');
}

export function iterCreate(ctx: CallContext, attr: Struct): bigint {
  const I = U.bpf_attr.iter_create;
  if (attr.u32(I.flags)) throw new KernelError(Errno.EINVAL, 'flags must be 0');
  linkOf(ctx, attr.s32(I.link_fd));
  throw new KernelError(Errno.EINVAL, 'not an iterator link');
}

const end = (f: { off: number; size: number }) => f.off + f.size;
export const LINK_UPDATE_END = end(LU.old_prog_fd);
export const LINK_DETACH_END = end(U.bpf_attr.link_detach.link_fd);
export const ITER_CREATE_END = end(U.bpf_attr.iter_create.flags);
