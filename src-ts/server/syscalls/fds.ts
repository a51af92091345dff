// Resolving the fds a command names, with the kernel's errors. fdget() tells a closed fd (EBADF)
// from an open file that is not the right kind of bpf object (EINVAL, as __bpf_map_get(),
// bpf_prog_get() and bpf_link_get_from_fd() answer). The shim lists only the caller's bpf
// objects, so for any other fd the caller's own fd table in /proc (found through the socket's
// peer pid, which is in our pid namespace) says whether it is open.
import * as fs from 'fs';
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { BpfMap } from '../../kernel/map';
import { BpfProg } from '../../kernel/prog';
import { BpfLink } from '../../kernel/link';
import { CallContext } from './context';

/** Whether process pid has fd open (false for a process that does not exist). */
export function fdIsOpen(pid: number, fd: number): boolean {
  if (fd < 0 || pid <= 0) return false;
  try {
    fs.statSync(`/proc/${pid}/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

/** The caller's object behind fd, or null when fd is something else; EBADF when it is not open. */
export function lookupFd(ctx: CallContext, fd: number): BpfObject | null {
  try {
    return ctx.object(fd);
  } catch (e) {
    if (!(e instanceof KernelError) || e.errno !== Errno.EBADF) throw e;
  }
  if (!fdIsOpen(ctx.client.peerPid, fd)) throw new KernelError(Errno.EBADF, `fd ${fd} is not open`);
  return null;
}

/** The object of the given kind behind fd: EBADF for a closed fd, EINVAL for any other file. */
export function fdOf<T extends BpfObject>(ctx: CallContext, fd: number, kind: ObjKind): T {
  const o = lookupFd(ctx, fd);
  if (!o || o.kind !== kind) throw new KernelError(Errno.EINVAL, `fd ${fd} is not a ${ObjKind[kind].toLowerCase()}`);
  return o as T;
}

export const mapOf = (ctx: CallContext, fd: number) => fdOf<BpfMap>(ctx, fd, ObjKind.Map);
export const progOf = (ctx: CallContext, fd: number) => fdOf<BpfProg>(ctx, fd, ObjKind.Prog);
export const linkOf = (ctx: CallContext, fd: number) => fdOf<BpfLink>(ctx, fd, ObjKind.Link);

/** Writes a u32 into the caller's attr (a field the kernel puts back with put_user()). */
export function putU32(ctx: CallContext, addr: bigint, v: number): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  ctx.mem.write(addr, b);
}

export function putU64(ctx: CallContext, addr: bigint, v: bigint): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v), 0);
  ctx.mem.write(addr, b);
}

/** The open file mode bpf_get_file_flag() gives for BPF_F_RDONLY / BPF_F_WRONLY (EINVAL for
 * both at once). */
export function fileAccess(flags: number): number {
  const ro = (flags & U.BPF_F_RDONLY) !== 0;
  const wo = (flags & U.BPF_F_WRONLY) !== 0;
  if (ro && wo) throw new KernelError(Errno.EINVAL, 'read-only and write-only at once');
  return ro ? fs.constants.O_RDONLY : wo ? fs.constants.O_WRONLY : fs.constants.O_RDWR;
}

/** map_get_sys_perms(): what the caller's fd may do with the map (the fd's own mode, from its
 * /proc fdinfo; write access goes with a frozen map). EPERM when it may not. */
export function checkMapAccess(ctx: CallContext, fd: number, map: BpfMap, read: boolean, write: boolean): void {
  let acc = fs.constants.O_RDWR;
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/${ctx.client.peerPid}/fdinfo/${fd}`, 'utf8'));
    if (m) acc = parseInt(m[1], 8) & 3;
  } catch {
    /* the fd was just resolved: it is open; keep read-write */
  }
  if (read && acc === fs.constants.O_WRONLY) throw new KernelError(Errno.EPERM, `fd ${fd} is write-only`);
  if (write && acc === fs.constants.O_RDONLY) throw new KernelError(Errno.EPERM, `fd ${fd} is read-only`);
  if (write && map.frozen) throw new KernelError(Errno.EPERM, 'map is frozen: no write access');
}
