// Walking objects by id: BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID and *_GET_FD_BY_ID, as
// bpf_obj_get_next_id() and the bpf_*_get_fd_by_id() functions answer them. This is how bpftool
// lists what every tool has loaded.
//
// The kernel requires CAP_SYS_ADMIN for all of these (EPERM otherwise). The server only accepts
// clients of its own uid and root, and every object it holds belongs to them, so it does not
// refuse a non-root caller here: it has nothing to hide from it.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { ObjKind } from '../../kernel/objects';
import { CallContext, Struct } from './context';
import { fileAccess, putU32 } from './fds';

const G = U.bpf_attr.get_id;
const INT_MAX = 0x7fffffff;

/** *_GET_NEXT_ID: the smallest live id above start_id, written to next_id; ENOENT past the last. */
export const getNextId =
  (kind: ObjKind) =>
  (ctx: CallContext, attr: Struct, attrAddr: bigint): bigint => {
    const start = attr.u32(G.start_id);
    if (start >= INT_MAX) throw new KernelError(Errno.EINVAL, 'start_id out of range');
    const next = ctx.kernel.registry.nextId(kind, start);
    if (next === undefined) throw new KernelError(Errno.ENOENT, `no ${ObjKind[kind]} id after ${start}`);
    putU32(ctx, attrAddr + BigInt(G.next_id.off), next);
    return 0n;
  };

/** *_GET_FD_BY_ID: a new fd on the object with that id (a new reference held by the caller). */
export const getFdById =
  (kind: ObjKind) =>
  (ctx: CallContext, attr: Struct): bigint => {
    let access: number | undefined;
    if (kind === ObjKind.Map) {
      // bpf_get_file_flag(): only the access-mode flags, and not both at once; the new fd is
      // opened with that mode.
      const flags = attr.u32(G.open_flags);
      if (flags & ~(U.BPF_F_RDONLY | U.BPF_F_WRONLY)) throw new KernelError(Errno.EINVAL, 'unknown open_flags');
      access = fileAccess(flags);
    }
    // All four fields alias the same word (start_id/prog_id/map_id/btf_id/link_id).
    const id = attr.u32(G.prog_id);
    const o = ctx.kernel.registry.get(kind, id);
    if (!o || o.destroyed) throw new KernelError(Errno.ENOENT, `no ${ObjKind[kind]} with id ${id}`);
    return ctx.returnFd(o, access);
  };

/** Where each command's attr ends (CHECK_ATTR). BTF_GET_FD_BY_ID gained open_flags only with BPF
 * tokens (newer than our uapi header); without them btf_id is its last field, as for progs. */
export const GET_ID_END = {
  nextId: G.next_id.off + G.next_id.size,
  mapFd: G.open_flags.off + G.open_flags.size,
  fd: G.prog_id.off + G.prog_id.size,
};
