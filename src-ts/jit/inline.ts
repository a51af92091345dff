// Helper calls the JIT emits inline instead of calling the helper, as the kernel's verifier
// does (map_gen_lookup, inline_bpf_loop):
//
//  - bpf_map_lookup_elem on an ARRAY map named by the ld_imm64 that last set r1: a bounds check
//    and an address computation against the value area of this process's mapping of the map
//    (relocation 'array_values', which the loader resolves only for an ARRAY map of that many
//    entries).
//
// r1..r5 are dead after a helper call (eBPF's contract, see control.ts), so inline code may
// use them as scratch like a helper would.
import * as O from '../asm/opcodes';
import { BPF_MAP_TYPE_ARRAY } from '../uapi/bpf';
import { Gen, bindHere, shortJccForward, shortJmpForward } from './gen';
import { FUNC_START, JUMP_TARGET, SECOND_HALF } from './program';
import { T2 } from './regs';
import { INSN_RELOC_MAP_PTR, JitMapInfo } from './types';
import { ALU_ADD, ALU_CMP, ALU_XOR, CC_AE, RAX, RSI, SH_SHL, W64 } from './x86';

const LD_IMM64 = O.BPF_LD | O.BPF_IMM | O.BPF_DW;
const LOOKBACK = 32;

/** Which eBPF registers instruction j may write (r0..r10 bits; calls: r0..r5). */
function writes(g: Gen, j: number): number {
  const { p } = g;
  const code = p.code[j];
  switch (code & 7) {
    case O.BPF_ALU:
    case O.BPF_ALU64:
    case O.BPF_LDX:
    case O.BPF_LD:
      return 1 << p.dst[j];
    case O.BPF_STX:
      return (code & 0xe0) === O.BPF_ATOMIC ? (1 << p.src[j]) | (1 << p.dst[j]) | 1 : 0;
    case O.BPF_JMP:
      return (code & 0xf0) === O.BPF_CALL ? 0x3f : 0;
    default:
      return 0;
  }
}

/** The instruction that last set eBPF register r on the only path into instruction i (no jump
 * lands in between), or -1 when that is not known. */
export function lastWrite(g: Gen, i: number, r: number): number {
  const { L } = g;
  for (let j = i - 1; j >= 0 && i - j <= LOOKBACK; j--) {
    if (L.flags[j + 1] & (FUNC_START | JUMP_TARGET)) return -1;
    if (L.flags[j] & SECOND_HALF) continue;
    const code = g.p.code[j];
    // Code after an exit or unconditional jump is reached only by jumps (caught above).
    if (code === (O.BPF_JMP | O.BPF_EXIT) || code === (O.BPF_JMP | O.BPF_JA) || code === (O.BPF_JMP32 | O.BPF_JA)) return -1;
    if (writes(g, j) & (1 << r)) return j;
  }
  return -1;
}

/** The map whose handle r1 holds at instruction i, when an ld_imm64 put it there. */
function mapInR1(g: Gen): JitMapInfo | undefined {
  const j = lastWrite(g, g.i, 1);
  if (j < 0 || g.p.code[j] !== LD_IMM64) return undefined;
  const r = g.L.relocAt.get(j);
  if (!r || r.kind !== INSN_RELOC_MAP_PTR) return undefined;
  return g.maps.get(r.mapId);
}

/**
 * bpf_map_lookup_elem(r1 = ARRAY map, r2 = &key):
 *   mov eax, [rsi]; cmp eax, max_entries; jae null
 *   imul rax, rax, elem_size (shl for a power of two); movabs r11, values; add rax, r11; jmp done
 *   null: xor eax, eax
 * Returns false (nothing emitted) when r1's map is not known to be an ARRAY map.
 */
export function inlineMapLookup(g: Gen): boolean {
  const m = mapInR1(g);
  if (!m || m.mapType !== BPF_MAP_TYPE_ARRAY || m.maxEntries <= 0 || m.valueSize <= 0) return false;
  const elem = (m.valueSize + 7) & ~7;
  if (elem > 0x7ffffff8) return false;
  const { e } = g;
  e.load(RAX, RSI, 0, 4, false);
  e.aluRI(ALU_CMP, RAX, m.maxEntries | 0, false); // unsigned compare of the 32-bit values
  const toNull = shortJccForward(e, CC_AE);
  if ((elem & (elem - 1)) === 0) e.shiftRI(SH_SHL, RAX, 31 - Math.clz32(elem), W64);
  else e.imulRRI(RAX, RAX, elem, true);
  const at = e.movabs(T2, 0, 0);
  g.relocs.push({ offset: at, kind: 'array_values', id: m.id, addend: m.maxEntries >>> 0 });
  e.aluRR(ALU_ADD, RAX, T2, true);
  const done = shortJmpForward(e);
  bindHere(e, toNull);
  e.aluRR(ALU_XOR, RAX, RAX, false);
  bindHere(e, done);
  return true;
}
