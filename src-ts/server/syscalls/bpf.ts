// bpf(2): the command dispatch. Each command checks its attr the way kernel/bpf/syscall.c does
// (size above a page or non-zero bytes beyond the union: E2BIG; non-zero bytes after the
// command's last field: EINVAL) before its handler runs. Commands not offered fail with EINVAL,
// exactly as on a kernel that does not know them, so feature probes choose working fallbacks.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { CallContext, Field, Struct } from './context';
import { mapCreate, mapFreeze } from './map_cmds';
import { progLoad, progBindMap } from './prog_load';
import { btfLoad } from './btf_load';
import { linkCreate } from './link_cmds';
import { objGetInfoByFd } from './info';
import { GET_ID_END, getFdById, getNextId } from './obj_ids';
import { OBJ_END, objGet, objPin } from './obj_pin';
import { BATCH_END, mapDeleteBatch, mapLookupAndDeleteBatch, mapLookupBatch, mapUpdateBatch } from './map_batch';
import { ITER_CREATE_END, LINK_DETACH_END, LINK_UPDATE_END, iterCreate, linkDetach, linkUpdate } from './link_ops';
import { ATTACH_END, QUERY_END, RAW_TP_END, progAttach, progDetach, progQuery, rawTracepointOpen } from './attach_cmds';
import { TASK_FD_QUERY_END, taskFdQuery } from './task_fd_query';
import { TEST_RUN_END, progTestRun } from './prog_test_run';
import { ENABLE_STATS_END, enableStats } from './stats';
import { ObjKind } from '../../kernel/objects';
import { mapDeleteElem, mapUpdateElem } from './prog_array';

const PAGE = 4096;
const end = (f: Field): number => f.off + f.size;

/** A command's answer; a promise for commands that take long (test runs): the server answers the
 * caller when it settles and serves everyone else meanwhile. */
type Handler = (ctx: CallContext, attr: Struct, attrAddr: bigint) => bigint | Promise<bigint>;

interface Command {
  lastFieldEnd: number; // CHECK_ATTR: bytes from here to the end of the union must be zero
  run: Handler;
}

const A = U.bpf_attr;

const commands = new Map<number, Command>([
  [U.BPF_MAP_CREATE, { lastFieldEnd: end(A.map_create.map_extra), run: mapCreate }],
  // Element commands reach the server only for fd-valued maps (PERF_EVENT_ARRAY, PROG_ARRAY).
  [U.BPF_MAP_UPDATE_ELEM, { lastFieldEnd: end(A.elem.flags), run: mapUpdateElem }],
  [U.BPF_MAP_DELETE_ELEM, { lastFieldEnd: end(A.elem.flags), run: mapDeleteElem }],
  [U.BPF_MAP_FREEZE, { lastFieldEnd: end(A.elem.map_fd), run: mapFreeze }],
  [U.BPF_PROG_LOAD, { lastFieldEnd: end(A.prog_load.core_relo_rec_size), run: progLoad }],
  [U.BPF_BTF_LOAD, { lastFieldEnd: end(A.btf_load.btf_log_level), run: btfLoad }],
  [U.BPF_LINK_CREATE, { lastFieldEnd: U.sizeof.bpf_attr, run: linkCreate }],
  [U.BPF_OBJ_GET_INFO_BY_FD, { lastFieldEnd: end(A.info.info), run: objGetInfoByFd }],
  [U.BPF_PROG_BIND_MAP, { lastFieldEnd: end(A.prog_bind_map.flags), run: progBindMap }],
  [U.BPF_PROG_GET_NEXT_ID, { lastFieldEnd: GET_ID_END.nextId, run: getNextId(ObjKind.Prog) }],
  [U.BPF_MAP_GET_NEXT_ID, { lastFieldEnd: GET_ID_END.nextId, run: getNextId(ObjKind.Map) }],
  [U.BPF_LINK_GET_NEXT_ID, { lastFieldEnd: GET_ID_END.nextId, run: getNextId(ObjKind.Link) }],
  [U.BPF_BTF_GET_NEXT_ID, { lastFieldEnd: GET_ID_END.nextId, run: getNextId(ObjKind.Btf) }],
  [U.BPF_PROG_GET_FD_BY_ID, { lastFieldEnd: GET_ID_END.fd, run: getFdById(ObjKind.Prog) }],
  [U.BPF_MAP_GET_FD_BY_ID, { lastFieldEnd: GET_ID_END.mapFd, run: getFdById(ObjKind.Map) }],
  [U.BPF_LINK_GET_FD_BY_ID, { lastFieldEnd: GET_ID_END.fd, run: getFdById(ObjKind.Link) }],
  [U.BPF_BTF_GET_FD_BY_ID, { lastFieldEnd: GET_ID_END.fd, run: getFdById(ObjKind.Btf) }],
  [U.BPF_OBJ_PIN, { lastFieldEnd: OBJ_END, run: objPin }],
  [U.BPF_OBJ_GET, { lastFieldEnd: OBJ_END, run: objGet }],
  [U.BPF_MAP_LOOKUP_BATCH, { lastFieldEnd: BATCH_END, run: mapLookupBatch }],
  [U.BPF_MAP_LOOKUP_AND_DELETE_BATCH, { lastFieldEnd: BATCH_END, run: mapLookupAndDeleteBatch }],
  [U.BPF_MAP_UPDATE_BATCH, { lastFieldEnd: BATCH_END, run: mapUpdateBatch }],
  [U.BPF_MAP_DELETE_BATCH, { lastFieldEnd: BATCH_END, run: mapDeleteBatch }],
  [U.BPF_LINK_UPDATE, { lastFieldEnd: LINK_UPDATE_END, run: linkUpdate }],
  [U.BPF_LINK_DETACH, { lastFieldEnd: LINK_DETACH_END, run: linkDetach }],
  [U.BPF_ITER_CREATE, { lastFieldEnd: ITER_CREATE_END, run: iterCreate }],
  [U.BPF_PROG_ATTACH, { lastFieldEnd: ATTACH_END, run: progAttach }],
  [U.BPF_PROG_DETACH, { lastFieldEnd: ATTACH_END, run: progDetach }],
  [U.BPF_PROG_QUERY, { lastFieldEnd: QUERY_END, run: progQuery }],
  [U.BPF_RAW_TRACEPOINT_OPEN, { lastFieldEnd: RAW_TP_END, run: rawTracepointOpen }],
  [U.BPF_TASK_FD_QUERY, { lastFieldEnd: TASK_FD_QUERY_END, run: taskFdQuery }],
  [U.BPF_PROG_TEST_RUN, { lastFieldEnd: TEST_RUN_END, run: progTestRun }],
  [U.BPF_ENABLE_STATS, { lastFieldEnd: ENABLE_STATS_END, run: enableStats }],
  // Not listed, so EINVAL as on a kernel without them: everything newer than our uapi header
  // (tokens, struct_ops maps are refused at MAP_CREATE...).
]);

export function sysBpf(ctx: CallContext, cmd: number, attrAddr: bigint, size: number): bigint | Promise<bigint> {
  if (size > PAGE) throw new KernelError(Errno.E2BIG, 'attr larger than a page');
  const raw = ctx.mem.read(attrAddr, size);
  const c = commands.get(cmd);
  if (!c) throw new KernelError(Errno.EINVAL, `bpf command ${cmd} is not offered`);
  // CHECK_ATTR: whatever follows the command's last field must be zero. The running kernel's
  // union is larger than the uapi header we are built against, so bytes beyond our union but
  // within a page are judged the same way (EINVAL), as that kernel judges them.
  if (raw.subarray(c.lastFieldEnd).some((b) => b !== 0)) {
    throw new KernelError(Errno.EINVAL, `non-zero bytes after the last field of command ${cmd}`);
  }
  const attr = Buffer.alloc(U.sizeof.bpf_attr);
  raw.copy(attr, 0, 0, Math.min(size, U.sizeof.bpf_attr));
  return c.run(ctx, new Struct(attr), attrAddr);
}

/** Writes a verifier/BTF log the way the kernel does: truncated to log_size with a NUL, and
 * ENOSPC when it did not fit (only when the caller asked for a log). */
export function writeLog(ctx: CallContext, logBuf: bigint, logSize: number, logLevel: number, text: string): boolean {
  if (!logBuf || !logLevel || !logSize) return true;
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length + 1 <= logSize) {
    ctx.mem.write(logBuf, Buffer.concat([bytes, Buffer.from([0])]));
    return true;
  }
  ctx.mem.write(logBuf, Buffer.concat([bytes.subarray(0, logSize - 1), Buffer.from([0])]));
  return false;
}

/** BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS | BPF_LOG_FIXED (kernel-internal). */
export const LOG_LEVEL_MASK = 1 | 2 | 4 | 8;

/** The kernel's checks on (log_buf, log_size, log_level): bpf_verifier_log_attr_valid(). A log
 * level without a buffer is valid (the caller only wants the true log size). */
export function checkLogAttrs(logBuf: bigint, logSize: number, logLevel: number): void {
  if (!!logBuf !== !!logSize) throw new KernelError(Errno.EINVAL, 'log_buf and log_size go together');
  if (logBuf && !logLevel) throw new KernelError(Errno.EINVAL, 'log_buf without log_level');
  if (logLevel & ~LOG_LEVEL_MASK) throw new KernelError(Errno.EINVAL, 'bad log_level');
  if (logSize > 0xffffffff >>> 2) throw new KernelError(Errno.EINVAL, 'log_size too large');
}

/** Object names: up to 15 characters of [A-Za-z0-9_.], as bpf_obj_name_cpy() accepts. */
export function objName(attr: Struct, f: Field): string {
  const b = attr.bytes(f);
  const z = b.indexOf(0);
  if (z < 0) throw new KernelError(Errno.EINVAL, 'object name not NUL-terminated');
  const name = b.subarray(0, z).toString('latin1');
  if (!/^[A-Za-z0-9_.]*$/.test(name)) throw new KernelError(Errno.EINVAL, `invalid object name "${name}"`);
  return name;
}
