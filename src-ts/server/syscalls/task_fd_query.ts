// BPF_TASK_FD_QUERY, as bpf_task_fd_query(): what program runs at the perf event behind fd in
// process pid, and where (fd_type, probe path, offset). bpftool's `perf` command asks it for every
// fd of every process.
//
// The kernel looks the fd up in the named task. The shim only tells us about the caller's own
// object fds; for any other process (or a caller's fd the shim did not list), /proc/<pid>/fd/<fd>
// names the file, and its inode finds our object: a process's fds can be named without ever
// reading its memory.
import * as fs from 'fs';
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { PerfEvent } from '../../kernel/perf_event';
import { CallContext, Struct } from './context';
import { putU32, putU64 } from './fds';

const Q = U.bpf_attr.task_fd_query;
const ENOTSUPP = Errno.ENOTSUP;

/** The object behind fd in process pid, or null for a file that is not ours. */
function objectInTask(ctx: CallContext, pid: number, fd: number): BpfObject | null {
  if (pid <= 0 || !fs.existsSync(`/proc/${pid}`)) throw new KernelError(Errno.ENOENT, `no process ${pid}`);
  // The caller's own fds (its threads share them): what the shim listed.
  if (pid === ctx.client.peerPid || fs.existsSync(`/proc/${ctx.client.peerPid}/task/${pid}`)) {
    try {
      return ctx.object(fd);
    } catch {
      /* not listed: ask /proc below */
    }
  }
  let ino: bigint;
  try {
    ino = fs.statSync(`/proc/${pid}/fd/${fd}`, { bigint: true }).ino;
  } catch {
    throw new KernelError(Errno.EBADF, `process ${pid} has no fd ${fd}`);
  }
  // The server's own fds on the memfds are its bookkeeping, not a process holding the objects.
  if (pid === process.pid) return null;
  const o = ctx.kernel.registry.byInode(ino);
  return o && !o.destroyed ? o : null;
}

export function taskFdQuery(ctx: CallContext, attr: Struct, attrAddr: bigint): bigint {
  if (attr.u32(Q.flags) !== 0) throw new KernelError(Errno.EINVAL, 'flags must be 0');
  const o = objectInTask(ctx, attr.s32(Q.pid), attr.s32(Q.fd));
  // Links: only raw tracepoint links answer (there are none here); other files are not perf
  // events (perf_get_event() fails): ENOTSUPP either way.
  if (!o || o.kind !== ObjKind.PerfEvent) throw new KernelError(ENOTSUPP, 'not a perf event');
  const ev = o as PerfEvent;
  // bpf_get_perf_event_info()
  if (!ev.prog) throw new KernelError(Errno.ENOENT, 'no program on this perf event');
  if (ev.prog.spec.progType === U.BPF_PROG_TYPE_PERF_EVENT) throw new KernelError(Errno.EOPNOTSUPP, 'perf_event programs are not described');
  const s = ev.spec;
  let fdType: number;
  let offset = 0n;
  let name: Buffer;
  switch (s.probe) {
    case 'uprobe':
    case 'uretprobe':
      // The uprobe's file name as perf_event_open() was given it, and its file offset.
      fdType = s.probe === 'uprobe' ? U.BPF_FD_TYPE_UPROBE : U.BPF_FD_TYPE_URETPROBE;
      offset = s.offset;
      name = Buffer.from(s.path, 'utf8');
      break;
    case 'kprobe':
    case 'kretprobe':
      // A kprobe made by symbol: the symbol, the offset in it (always 0 here), address 0.
      fdType = s.probe === 'kprobe' ? U.BPF_FD_TYPE_KPROBE : U.BPF_FD_TYPE_KRETPROBE;
      name = Buffer.from(s.path, 'utf8');
      break;
    default:
      // Tracepoints are named without their system ("sys_enter_getpid"), offset and address 0.
      fdType = U.BPF_FD_TYPE_TRACEPOINT;
      name = Buffer.from(s.path.split('/').pop() ?? '', 'utf8');
  }
  // bpf_task_fd_query_copy(): buf_len becomes the name's length (without its NUL); the name is
  // copied NUL-terminated, cut to fit with ENOSPC; the other fields are written even then.
  const ubuf = attr.u64(Q.buf);
  const inputLen = attr.u32(Q.buf_len);
  putU32(ctx, attrAddr + BigInt(Q.buf_len.off), name.length);
  let err = 0;
  if (inputLen && ubuf) {
    if (inputLen >= name.length + 1) {
      ctx.mem.write(ubuf, Buffer.concat([name, Buffer.from([0])]));
    } else {
      ctx.mem.write(ubuf, Buffer.concat([name.subarray(0, inputLen - 1), Buffer.from([0])]));
      err = Errno.ENOSPC;
    }
  }
  putU32(ctx, attrAddr + BigInt(Q.prog_id.off), ev.prog.id);
  putU32(ctx, attrAddr + BigInt(Q.fd_type.off), fdType);
  putU64(ctx, attrAddr + BigInt(Q.probe_offset.off), offset);
  putU64(ctx, attrAddr + BigInt(Q.probe_addr.off), 0n);
  if (err) throw new KernelError(err, 'buffer too small for the probe path');
  return 0n;
}

export const TASK_FD_QUERY_END = Q.probe_addr.off + Q.probe_addr.size;
