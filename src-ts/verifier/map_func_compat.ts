// Which map types may be passed to which helpers: the kernel verifier's
// check_map_func_compatibility(), a two-way check (a map type that only some helpers may take,
// and a helper that only takes some map types), refused at load with -EINVAL and the kernel's
// line `cannot pass map_type T into func bpf_NAME#ID` (for bpf_tail_call, record_func_key()'s
// `expected prog array map for tail call`, which the kernel checks first). bpf_for_each_map_elem
// over a map the kernel cannot walk fails earlier still, with ENOTSUPP and `callback function
// not allowed for map`.
//
// The maps a call receives are what the reachability pass knows of the helper's map argument each
// time it reaches the call: a map loaded by ld_imm64 into that register on the paths joined so
// far (also through r6-r9 across calls), so some path really passes it, and the kernel, which
// checks every path, would refuse it too. Where the pass cannot tell (a map pointer spilled to
// the stack, an inner map from a map-of-maps lookup), nothing is refused: the check never
// refuses what the kernel would load. (Cgroup storage maps, newer than the uapi headers
// this is built from, cannot be created here, so they need no rule.)
import * as U from '../uapi/bpf';
import { Val } from './reachability';

const F = U.bpf_func_id;
const T = U.bpf_map_type;

/** The register holding the map (ARG_CONST_MAP_PTR) of each helper that takes one. */
const MAP_ARG = new Map<number, number>([
  [F.BPF_FUNC_map_lookup_elem, 1], [F.BPF_FUNC_map_update_elem, 1], [F.BPF_FUNC_map_delete_elem, 1],
  [F.BPF_FUNC_map_push_elem, 1], [F.BPF_FUNC_map_pop_elem, 1], [F.BPF_FUNC_map_peek_elem, 1],
  [F.BPF_FUNC_map_lookup_percpu_elem, 1], [F.BPF_FUNC_for_each_map_elem, 1],
  [F.BPF_FUNC_tail_call, 2],
  [F.BPF_FUNC_perf_event_read, 1], [F.BPF_FUNC_perf_event_read_value, 1], [F.BPF_FUNC_perf_event_output, 2],
  [F.BPF_FUNC_skb_output, 2], [F.BPF_FUNC_xdp_output, 2],
  [F.BPF_FUNC_ringbuf_output, 1], [F.BPF_FUNC_ringbuf_reserve, 1], [F.BPF_FUNC_ringbuf_query, 1],
  [F.BPF_FUNC_ringbuf_reserve_dynptr, 1], [F.BPF_FUNC_user_ringbuf_drain, 1],
  [F.BPF_FUNC_get_stackid, 2], [F.BPF_FUNC_current_task_under_cgroup, 1], [F.BPF_FUNC_skb_under_cgroup, 2],
  [F.BPF_FUNC_get_local_storage, 1], [F.BPF_FUNC_redirect_map, 1],
  [F.BPF_FUNC_sk_redirect_map, 2], [F.BPF_FUNC_sk_redirect_hash, 2], [F.BPF_FUNC_msg_redirect_map, 2],
  [F.BPF_FUNC_msg_redirect_hash, 2], [F.BPF_FUNC_sock_map_update, 2], [F.BPF_FUNC_sock_hash_update, 2],
  [F.BPF_FUNC_sk_select_reuseport, 2],
  [F.BPF_FUNC_sk_storage_get, 1], [F.BPF_FUNC_sk_storage_delete, 1],
  [F.BPF_FUNC_inode_storage_get, 1], [F.BPF_FUNC_inode_storage_delete, 1],
  [F.BPF_FUNC_task_storage_get, 1], [F.BPF_FUNC_task_storage_delete, 1],
]);

const PERF_OUT = [F.BPF_FUNC_perf_event_read, F.BPF_FUNC_perf_event_output, F.BPF_FUNC_skb_output,
  F.BPF_FUNC_perf_event_read_value, F.BPF_FUNC_xdp_output];
const RINGBUF = [F.BPF_FUNC_ringbuf_output, F.BPF_FUNC_ringbuf_reserve, F.BPF_FUNC_ringbuf_query,
  F.BPF_FUNC_ringbuf_reserve_dynptr, F.BPF_FUNC_ringbuf_submit_dynptr, F.BPF_FUNC_ringbuf_discard_dynptr];
const SOCKMAP = [F.BPF_FUNC_sk_redirect_map, F.BPF_FUNC_sock_map_update, F.BPF_FUNC_msg_redirect_map,
  F.BPF_FUNC_sk_select_reuseport, F.BPF_FUNC_map_lookup_elem, F.BPF_FUNC_map_update_elem, F.BPF_FUNC_map_delete_elem];
const SOCKHASH = [F.BPF_FUNC_sk_redirect_hash, F.BPF_FUNC_sock_hash_update, F.BPF_FUNC_msg_redirect_hash,
  F.BPF_FUNC_sk_select_reuseport, F.BPF_FUNC_map_lookup_elem, F.BPF_FUNC_map_update_elem, F.BPF_FUNC_map_delete_elem];
const QUEUE = [F.BPF_FUNC_map_peek_elem, F.BPF_FUNC_map_pop_elem, F.BPF_FUNC_map_push_elem];

/** From the map's side: the only helpers these map types may be passed to. */
const MAP_ONLY = new Map<number, number[]>([
  [T.BPF_MAP_TYPE_PROG_ARRAY, [F.BPF_FUNC_tail_call]],
  [T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, PERF_OUT],
  [T.BPF_MAP_TYPE_RINGBUF, RINGBUF],
  [T.BPF_MAP_TYPE_USER_RINGBUF, [F.BPF_FUNC_user_ringbuf_drain]],
  [T.BPF_MAP_TYPE_STACK_TRACE, [F.BPF_FUNC_get_stackid]],
  [T.BPF_MAP_TYPE_CGROUP_ARRAY, [F.BPF_FUNC_skb_under_cgroup, F.BPF_FUNC_current_task_under_cgroup]],
  [T.BPF_MAP_TYPE_CGROUP_STORAGE, [F.BPF_FUNC_get_local_storage]],
  [T.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, [F.BPF_FUNC_get_local_storage]],
  [T.BPF_MAP_TYPE_DEVMAP, [F.BPF_FUNC_redirect_map, F.BPF_FUNC_map_lookup_elem]],
  [T.BPF_MAP_TYPE_DEVMAP_HASH, [F.BPF_FUNC_redirect_map, F.BPF_FUNC_map_lookup_elem]],
  [T.BPF_MAP_TYPE_CPUMAP, [F.BPF_FUNC_redirect_map]],
  [T.BPF_MAP_TYPE_XSKMAP, [F.BPF_FUNC_redirect_map, F.BPF_FUNC_map_lookup_elem]],
  [T.BPF_MAP_TYPE_ARRAY_OF_MAPS, [F.BPF_FUNC_map_lookup_elem]],
  [T.BPF_MAP_TYPE_HASH_OF_MAPS, [F.BPF_FUNC_map_lookup_elem]],
  [T.BPF_MAP_TYPE_SOCKMAP, SOCKMAP],
  [T.BPF_MAP_TYPE_SOCKHASH, SOCKHASH],
  [T.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, [F.BPF_FUNC_sk_select_reuseport]],
  [T.BPF_MAP_TYPE_QUEUE, QUEUE],
  [T.BPF_MAP_TYPE_STACK, QUEUE],
  [T.BPF_MAP_TYPE_SK_STORAGE, [F.BPF_FUNC_sk_storage_get, F.BPF_FUNC_sk_storage_delete]],
  [T.BPF_MAP_TYPE_INODE_STORAGE, [F.BPF_FUNC_inode_storage_get, F.BPF_FUNC_inode_storage_delete]],
  [T.BPF_MAP_TYPE_TASK_STORAGE, [F.BPF_FUNC_task_storage_get, F.BPF_FUNC_task_storage_delete]],
  [T.BPF_MAP_TYPE_BLOOM_FILTER, [F.BPF_FUNC_map_peek_elem, F.BPF_FUNC_map_push_elem]],
]);

/** From the helper's side: the only map types these helpers take. */
const FUNC_ONLY = new Map<number, number[]>([
  [F.BPF_FUNC_tail_call, [T.BPF_MAP_TYPE_PROG_ARRAY]],
  ...PERF_OUT.map((f): [number, number[]] => [f, [T.BPF_MAP_TYPE_PERF_EVENT_ARRAY]]),
  ...RINGBUF.map((f): [number, number[]] => [f, [T.BPF_MAP_TYPE_RINGBUF]]),
  [F.BPF_FUNC_user_ringbuf_drain, [T.BPF_MAP_TYPE_USER_RINGBUF]],
  [F.BPF_FUNC_get_stackid, [T.BPF_MAP_TYPE_STACK_TRACE]],
  [F.BPF_FUNC_current_task_under_cgroup, [T.BPF_MAP_TYPE_CGROUP_ARRAY]],
  [F.BPF_FUNC_skb_under_cgroup, [T.BPF_MAP_TYPE_CGROUP_ARRAY]],
  [F.BPF_FUNC_redirect_map, [T.BPF_MAP_TYPE_DEVMAP, T.BPF_MAP_TYPE_DEVMAP_HASH, T.BPF_MAP_TYPE_CPUMAP, T.BPF_MAP_TYPE_XSKMAP]],
  [F.BPF_FUNC_sk_redirect_map, [T.BPF_MAP_TYPE_SOCKMAP]],
  [F.BPF_FUNC_msg_redirect_map, [T.BPF_MAP_TYPE_SOCKMAP]],
  [F.BPF_FUNC_sock_map_update, [T.BPF_MAP_TYPE_SOCKMAP]],
  [F.BPF_FUNC_sk_redirect_hash, [T.BPF_MAP_TYPE_SOCKHASH]],
  [F.BPF_FUNC_msg_redirect_hash, [T.BPF_MAP_TYPE_SOCKHASH]],
  [F.BPF_FUNC_sock_hash_update, [T.BPF_MAP_TYPE_SOCKHASH]],
  [F.BPF_FUNC_get_local_storage, [T.BPF_MAP_TYPE_CGROUP_STORAGE, T.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE]],
  [F.BPF_FUNC_sk_select_reuseport, [T.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, T.BPF_MAP_TYPE_SOCKMAP, T.BPF_MAP_TYPE_SOCKHASH]],
  [F.BPF_FUNC_map_pop_elem, [T.BPF_MAP_TYPE_QUEUE, T.BPF_MAP_TYPE_STACK]],
  [F.BPF_FUNC_map_peek_elem, [T.BPF_MAP_TYPE_QUEUE, T.BPF_MAP_TYPE_STACK, T.BPF_MAP_TYPE_BLOOM_FILTER]],
  [F.BPF_FUNC_map_push_elem, [T.BPF_MAP_TYPE_QUEUE, T.BPF_MAP_TYPE_STACK, T.BPF_MAP_TYPE_BLOOM_FILTER]],
  [F.BPF_FUNC_map_lookup_percpu_elem, [T.BPF_MAP_TYPE_PERCPU_ARRAY, T.BPF_MAP_TYPE_PERCPU_HASH, T.BPF_MAP_TYPE_LRU_PERCPU_HASH]],
  [F.BPF_FUNC_sk_storage_get, [T.BPF_MAP_TYPE_SK_STORAGE]],
  [F.BPF_FUNC_sk_storage_delete, [T.BPF_MAP_TYPE_SK_STORAGE]],
  [F.BPF_FUNC_inode_storage_get, [T.BPF_MAP_TYPE_INODE_STORAGE]],
  [F.BPF_FUNC_inode_storage_delete, [T.BPF_MAP_TYPE_INODE_STORAGE]],
  [F.BPF_FUNC_task_storage_get, [T.BPF_MAP_TYPE_TASK_STORAGE]],
  [F.BPF_FUNC_task_storage_delete, [T.BPF_MAP_TYPE_TASK_STORAGE]],
]);

/** Map types whose kernel ops have map_for_each_callback: the only ones bpf_for_each_map_elem
 * may walk (set_map_elem_callback_state() refuses the others before this check, with ENOTSUPP). */
const FOR_EACH_TYPES = new Set<number>([
  T.BPF_MAP_TYPE_ARRAY, T.BPF_MAP_TYPE_PERCPU_ARRAY, T.BPF_MAP_TYPE_HASH, T.BPF_MAP_TYPE_PERCPU_HASH,
  T.BPF_MAP_TYPE_LRU_HASH, T.BPF_MAP_TYPE_LRU_PERCPU_HASH,
]);

/** The kernel's ENOTSUPP (not in errno.h). */
const ENOTSUPP = 524;
const EINVAL = 22;

/** The kernel's func_id_name(): bpf_ and the enum's name. */
function funcName(id: number): string {
  const key = Object.keys(F).find((k) => (F as Record<string, number>)[k] === id);
  return key ? key.replace(/^BPF_FUNC_/, 'bpf_') : 'unknown';
}

/** Whether a map of this type may be passed to this helper (check_map_func_compatibility). */
export function mapFuncCompatible(mapType: number, funcId: number): boolean {
  const onlyFuncs = MAP_ONLY.get(mapType);
  if (onlyFuncs && !onlyFuncs.includes(funcId)) return false;
  const onlyTypes = FUNC_ONLY.get(funcId);
  return !onlyTypes || onlyTypes.includes(mapType);
}

export interface MapFuncRefusal {
  insn: number;
  /** EINVAL, or ENOTSUPP for a map bpf_for_each_map_elem cannot walk. */
  errno: number;
  /** The call's line and the kernel's verdict, as the log shows them. */
  log: string;
}

/** Collects what findReachable() reports at helper calls, then answers the first (lowest
 * instruction) call that passes a map type its helper may not take. */
export class MapFuncChecker {
  private readonly seen = new Map<number, { helper: number; maps: Set<number> }>();

  constructor(private readonly mapType: (mapId: number) => number | undefined) {}

  /** For ReachEnv.onHelperCall. */
  readonly onHelperCall = (insn: number, helperId: number, regs: readonly Val[]): void => {
    const reg = MAP_ARG.get(helperId);
    const v = reg === undefined ? undefined : regs[reg];
    if (!v || v.k !== 'mapptr') return;
    let e = this.seen.get(insn);
    if (!e) this.seen.set(insn, (e = { helper: helperId, maps: new Set() }));
    e.maps.add(v.mapId);
  };

  /** The first refusal, or null; `live` tells which instructions the program keeps. */
  refusal(live?: Uint8Array): MapFuncRefusal | null {
    const calls = [...this.seen.entries()].sort((a, b) => a[0] - b[0]);
    for (const [insn, { helper, maps }] of calls) {
      if (live && !live[insn]) continue;
      for (const id of maps) {
        const t = this.mapType(id);
        if (t === undefined) continue;
        const name = funcName(helper);
        const call = `${insn}: (85) call ${name}#${helper}`;
        if (helper === F.BPF_FUNC_for_each_map_elem && !FOR_EACH_TYPES.has(t)) {
          return { insn, errno: ENOTSUPP, log: `${call}\ncallback function not allowed for map` };
        }
        if (mapFuncCompatible(t, helper)) continue;
        // record_func_key() looks at a tail call's map first, with its own words.
        const verdict = helper === F.BPF_FUNC_tail_call ? 'expected prog array map for tail call' : `cannot pass map_type ${t} into func ${name}#${helper}`;
        return { insn, errno: EINVAL, log: `${call}\n${verdict}` };
      }
    }
    return null;
  }
}
