// A tail call made by a callback itself (the function a BPF_PSEUDO_FUNC ld_imm64 hands to
// bpf_loop, bpf_for_each_map_elem, bpf_find_vma or bpf_user_ringbuf_drain) is refused, as a 6.18
// kernel's verifier refuses it: it takes the tail call as a possible return of the callback, with
// the target's r0 (an unknown scalar) as the callback's return value, which must be 0 or 1. A
// callback may still call a function that tail-calls (that function's r0 has no such bound).
import * as U from '../uapi/bpf';

const LD_IMM64 = 0x18;
const CALL = 0x85;
const PSEUDO_CALL = 1;

export interface CallbackTailRefusal {
  insn: number;
  log: string;
}

/** The first tail call in live code of a callback's own body, or null. */
export function callbackTailCall(insns: Uint8Array, live: Uint8Array): CallbackTailRefusal | null {
  const n = insns.length >> 3;
  const code = (i: number) => insns[i * 8];
  const src = (i: number) => insns[i * 8 + 1] >> 4;
  const imm = (i: number) => insns[i * 8 + 4] | (insns[i * 8 + 5] << 8) | (insns[i * 8 + 6] << 16) | (insns[i * 8 + 7] << 24);
  const starts = new Set<number>([0]);
  const callbacks = new Set<number>();
  for (let i = 0; i < n; i++) {
    if (code(i) === LD_IMM64) {
      if (live[i] && src(i) === U.BPF_PSEUDO_FUNC) {
        const t = i + 1 + imm(i);
        starts.add(t);
        callbacks.add(t);
      }
      i++;
    } else if (code(i) === CALL && src(i) === PSEUDO_CALL) {
      starts.add(i + 1 + imm(i));
    }
  }
  if (callbacks.size === 0) return null;
  let inCallback = false;
  for (let i = 0; i < n; i++) {
    if (starts.has(i)) inCallback = callbacks.has(i);
    if (code(i) === LD_IMM64) {
      i++;
      continue;
    }
    if (inCallback && live[i] && code(i) === CALL && src(i) === 0 && imm(i) === U.BPF_FUNC_tail_call) {
      return {
        insn: i,
        log: `${i}: (85) call bpf_tail_call#${U.BPF_FUNC_tail_call}\n` +
          'At callback return the register R0 has unknown scalar value should have been in [0, 1]',
      };
    }
  }
  return null;
}
