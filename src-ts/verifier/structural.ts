// The structural pass run at PROG_LOAD: what must hold for a program to be safe to hand to the
// interpreter in a target process, checked without simulating it (the full verifier is a later,
// separate pass). Messages follow the kernel verifier's wording so logs read familiar.
import * as U from '../uapi/bpf';
import { addon } from '../native/addon';
import { helperRefusal } from './helper_rules';

export interface CheckResult {
  ok: boolean;
  log: string;
  gplOnlyHelper: boolean;
}

// Helpers whose kernel prototypes are gpl_only (kernel/trace/bpf_trace.c, kernel/bpf/helpers.c).
const GPL_ONLY = new Set<number>([
  U.BPF_FUNC_probe_read, U.BPF_FUNC_probe_read_str, U.BPF_FUNC_probe_read_user, U.BPF_FUNC_probe_read_user_str,
  U.BPF_FUNC_probe_read_kernel, U.BPF_FUNC_probe_read_kernel_str, U.BPF_FUNC_trace_printk, U.BPF_FUNC_trace_vprintk,
  U.BPF_FUNC_perf_event_output, U.BPF_FUNC_get_stackid, U.BPF_FUNC_get_stack, U.BPF_FUNC_probe_write_user,
  U.BPF_FUNC_send_signal, U.BPF_FUNC_send_signal_thread, U.BPF_FUNC_override_return, U.BPF_FUNC_get_current_task,
  U.BPF_FUNC_get_current_task_btf,
  U.BPF_FUNC_get_func_ip,
]);

let helperIds: Set<number> | null = null;
/** The helpers the native core implements (the table in src-native/core/helpers). */
export function availableHelpers(): Set<number> {
  if (!helperIds) helperIds = new Set<number>(typeof addon.helperIds === 'function' ? addon.helperIds() : []);
  return helperIds;
}

const CLASS = (code: number) => code & 0x07;
const OP = (code: number) => code & 0xf0;
const SRC = (code: number) => code & 0x08;
const SIZE = (code: number) => code & 0x18;
const MODE = (code: number) => code & 0xe0;

export function checkProgram(insns: Buffer, progType: number, progFlags = 0): CheckResult {
  const n = insns.length / 8;
  const helpers = availableHelpers();
  let gplOnlyHelper = false;
  const isSecondHalf = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (insns[i * 8] === (U.BPF_LD | U.BPF_IMM | U.BPF_DW)) {
      if (i + 1 < n) isSecondHalf[i + 1] = 1;
      i++;
    }
  }
  const bad = (i: number, msg: string): CheckResult => ({ ok: false, log: `${i}: ${msg}`, gplOnlyHelper });
  const jumpOk = (i: number, target: number) => target >= 0 && target < n && !isSecondHalf[target];

  for (let i = 0; i < n; i++) {
    const o = i * 8;
    const code = insns[o];
    const dst = insns[o + 1] & 0x0f;
    const src = insns[o + 1] >> 4;
    const off = insns.readInt16LE(o + 2);
    const imm = insns.readInt32LE(o + 4);
    if (isSecondHalf[i]) continue;
    if (dst > 10 || src > 10) return bad(i, `R${Math.max(dst, src)} is invalid`);
    const cls = CLASS(code);
    switch (cls) {
      case U.BPF_ALU:
      case U.BPF_ALU64: {
        const op = OP(code);
        if (op > U.BPF_END) return bad(i, `invalid BPF_ALU opcode ${op.toString(16)}`);
        if (dst === 10) return bad(i, 'frame pointer is read only');
        break;
      }
      case U.BPF_JMP:
      case U.BPF_JMP32: {
        const op = OP(code);
        if (op === U.BPF_EXIT) {
          if (cls === U.BPF_JMP32) return bad(i, 'BPF_EXIT uses reserved fields');
          break;
        }
        if (op === U.BPF_CALL) {
          if (cls === U.BPF_JMP32) return bad(i, 'BPF_CALL uses reserved fields');
          if (src === U.BPF_PSEUDO_CALL) {
            if (!jumpOk(i, i + 1 + imm)) return bad(i, `invalid call target ${i + 1 + imm}`);
          } else if (src === U.BPF_PSEUDO_KFUNC_CALL) {
            return bad(i, 'calling kernel functions is not supported');
          } else if (src === 0) {
            const refusal = helperRefusal(imm, progType, progFlags);
            // The kernel prints this verdict on its own line, after the call's trace.
            if (refusal) return { ok: false, log: refusal, gplOnlyHelper };
            // The kernel's two lines: libbpf recognises them and, for the calls it poisoned
            // (CO-RE relocations, maps it did not create), explains which relocation failed.
            if (!helpers.has(imm)) return bad(i, `(85) call unknown#${imm}\ninvalid func unknown#${imm}`);
            if (GPL_ONLY.has(imm)) gplOnlyHelper = true;
          } else {
            return bad(i, 'BPF_CALL uses reserved fields');
          }
          break;
        }
        if (op === U.BPF_JA) {
          const t = cls === U.BPF_JMP32 ? i + 1 + imm : i + 1 + off;
          if (!jumpOk(i, t)) return bad(i, `jump out of range from insn ${i} to ${t}`);
          break;
        }
        if (op > 0xd0) return bad(i, `invalid BPF_JMP/JMP32 opcode ${op.toString(16)}`);
        if (!jumpOk(i, i + 1 + off)) return bad(i, `jump out of range from insn ${i} to ${i + 1 + off}`);
        break;
      }
      case U.BPF_LDX:
        if (MODE(code) !== U.BPF_MEM && MODE(code) !== 0x80 /* BPF_MEMSX */) return bad(i, 'invalid BPF_LDX mode');
        if (dst === 10) return bad(i, 'frame pointer is read only');
        break;
      case U.BPF_STX:
        if (MODE(code) !== U.BPF_MEM && MODE(code) !== U.BPF_ATOMIC) return bad(i, 'invalid BPF_STX mode');
        if (MODE(code) === U.BPF_ATOMIC && SIZE(code) !== U.BPF_W && SIZE(code) !== U.BPF_DW) return bad(i, 'invalid atomic operand size');
        break;
      case U.BPF_ST:
        if (MODE(code) !== U.BPF_MEM) return bad(i, 'invalid BPF_ST mode');
        break;
      case U.BPF_LD:
        if (code === (U.BPF_LD | U.BPF_IMM | U.BPF_DW)) {
          if (i + 1 >= n) return bad(i, 'invalid bpf_ld_imm64 insn');
          if (dst === 10) return bad(i, 'frame pointer is read only');
          break;
        }
        if (MODE(code) === U.BPF_ABS || MODE(code) === U.BPF_IND) return bad(i, 'BPF_LD_[ABS|IND] are not supported here');
        return bad(i, `unknown opcode ${code.toString(16).padStart(2, '0')}`);
    }
    void SRC;
  }
  const last = insns[(n - 1) * 8];
  if (last !== (U.BPF_JMP | U.BPF_EXIT) && OP(last) !== U.BPF_JA) return bad(n - 1, 'last insn is not an exit or jmp');
  return { ok: true, log: '', gplOnlyHelper };
}
