// Which program types may call the helpers whose availability the kernel ties to the program
// (its get_func_proto() per program type answering NULL), checked at load with the kernel's
// message. Helpers not listed here are offered to every program type the runtime loads.
import * as U from '../uapi/bpf';

const helperName = (id: number): string => {
  const key = Object.keys(U.bpf_func_id).find((k) => (U.bpf_func_id as Record<string, number>)[k] === id);
  return key ? key.replace(/^BPF_FUNC_/, 'bpf_') : `unknown`;
};

const TRACING_TYPES = new Set<number>([
  U.BPF_PROG_TYPE_KPROBE, U.BPF_PROG_TYPE_TRACEPOINT, U.BPF_PROG_TYPE_PERF_EVENT,
  U.BPF_PROG_TYPE_RAW_TRACEPOINT, U.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, U.BPF_PROG_TYPE_TRACING,
]);

/** Packet programs (runnable here through BPF_PROG_TEST_RUN): the kernel does not give them the
 * helpers that read task memory or stacks or name the probe (checked against 6.18's verifier). */
const PACKET_TYPES = new Set<number>([
  U.BPF_PROG_TYPE_XDP, U.BPF_PROG_TYPE_SCHED_CLS, U.BPF_PROG_TYPE_SCHED_ACT, U.BPF_PROG_TYPE_SOCKET_FILTER,
]);

/** null when the program may call the helper, else the kernel verifier's verdict. */
type Rule = (progType: number, progFlags: number, name: string, id: number) => string | null;
const cannotUse = (name: string, id: number) => `program of this type cannot use helper ${name}#${id}`;
const onlyFor = (ok: (t: number) => boolean): Rule => (t, _f, name, id) => (ok(t) ? null : cannotUse(name, id));

const RULES = new Map<number, Rule>([
  // kprobe_prog_func_proto() only: error injection at a probed function's entry (the attach
  // refuses return probes, see link_cmds.ts).
  [U.BPF_FUNC_override_return, onlyFor((t) => t === U.BPF_PROG_TYPE_KPROBE)],
  // Offered only to programs with a BPF trampoline (fentry/fexit/fmod_ret: TRACING): kprobes,
  // and so uprobes, get their arguments from pt_regs instead.
  [U.BPF_FUNC_get_func_arg, onlyFor((t) => t === U.BPF_PROG_TYPE_TRACING)],
  [U.BPF_FUNC_get_func_ret, onlyFor((t) => t === U.BPF_PROG_TYPE_TRACING)],
  [U.BPF_FUNC_get_func_arg_cnt, onlyFor((t) => t === U.BPF_PROG_TYPE_TRACING)],
  [U.BPF_FUNC_probe_read, onlyFor((t) => !PACKET_TYPES.has(t))],
  [U.BPF_FUNC_probe_read_str, onlyFor((t) => !PACKET_TYPES.has(t))],
  [U.BPF_FUNC_get_stackid, onlyFor((t) => !PACKET_TYPES.has(t))],
  [U.BPF_FUNC_get_stack, onlyFor((t) => !PACKET_TYPES.has(t))],
  [U.BPF_FUNC_get_func_ip, onlyFor((t) => !PACKET_TYPES.has(t))],
  [U.BPF_FUNC_get_attach_cookie, onlyFor((t) => !PACKET_TYPES.has(t) && t !== U.BPF_PROG_TYPE_SYSCALL)],
  // Reads the packet of a struct __sk_buff context (only test runs provide one here).
  [U.BPF_FUNC_skb_load_bytes, onlyFor((t) => PACKET_TYPES.has(t) && t !== U.BPF_PROG_TYPE_XDP)],
  // bpf_tracing_func_proto(): tracing program types only.
  [U.BPF_FUNC_find_vma, onlyFor((t) => TRACING_TYPES.has(t))],
  // Tracing programs get it, but only sleepable ones may call it (check_helper_call()).
  [U.BPF_FUNC_copy_from_user, (t, f, name, id) =>
    !TRACING_TYPES.has(t) ? cannotUse(name, id) : (f & U.BPF_F_SLEEPABLE) === 0 ? 'helper call might sleep in a non-sleepable prog' : null],
]);

/** The kernel's verifier message when this program may not call helper `id`, else null. */
export function helperRefusal(id: number, progType: number, progFlags: number): string | null {
  const rule = RULES.get(id);
  return rule ? rule(progType, progFlags, helperName(id), id) : null;
}

/** Whether the program calls helper `id` (a static scan, as the kernel's verifier sets
 * prog->kprobe_override when it sees a call to bpf_override_return). */
export function callsHelper(insns: Buffer, id: number): boolean {
  for (let o = 0; o + 8 <= insns.length; o += 8) {
    if (insns[o] === (U.BPF_JMP | U.BPF_CALL) && insns[o + 1] >> 4 === 0 && insns.readInt32LE(o + 4) === id) return true;
  }
  return false;
}
