// Helper calls the JIT emits inline instead of calling the helper, as the kernel's verifier
// does (map_gen_lookup, inline_bpf_loop):
//
//  - bpf_map_lookup_elem on an ARRAY map named by the ld_imm64 that last set r1: a bounds check
//    and an address computation against the value area of this process's mapping of the map
//    (relocation 'array_values', which the loader resolves only for an ARRAY map of that many
//    entries).
//  - bpf_loop whose callback comes straight from an ld_imm64 (program.ts findInlineLoops): the
//    loop runs here and calls the callback directly, passing the tail-call count's address in
//    rax as bpf-to-bpf calls do, so callbacks may make tail calls in JIT code too.
//
// r1..r5 are dead after a helper call (eBPF's contract, see control.ts), so inline code may
// use them as scratch like a helper would.
import * as O from '../asm/opcodes';
import { BPF_MAP_TYPE_ARRAY } from '../uapi/bpf';
import { Gen, bindHere, shortJccForward, shortJmpForward } from './gen';
import { lastWrite } from './program';
import { T2 } from './regs';
import { MAX_LOOPS, countAddressTo } from './control';
import { INSN_RELOC_MAP_PTR, JitMapInfo } from './types';
import { ALU_ADD, ALU_CMP, ALU_XOR, CC_A, CC_AE, CC_E, CC_NE, RAX, RCX, RDI, RDX, RSI, RSP, R8, R12, SH_SHL, W64 } from './x86';

const LD_IMM64 = O.BPF_LD | O.BPF_IMM | O.BPF_DW;

/** The map whose handle r1 holds at instruction i, when an ld_imm64 put it there. */
function mapInR1(g: Gen): JitMapInfo | undefined {
  const j = lastWrite(g.p, g.L.flags, g.i, 1);
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

const EINVAL = 22, E2BIG = 7;

/**
 * bpf_loop(r1 = nr_loops, callback, r3 = ctx, r4 = flags), the helper's semantics exactly:
 * flags != 0: -EINVAL; nr_loops (32 bits) > 8M: -E2BIG as a 32-bit value; else callback(i, ctx,
 * 0, 0, 0) for i < nr_loops until it returns non-zero; r0 = the number of calls made.
 *
 * The loop index lives in r12 (callee-saved in SysV, never used by JIT code; saved here), the
 * count and ctx in two stack slots, with a pad slot keeping rsp 16-byte aligned at the call.
 */
export function inlineLoop(g: Gen, callee: number): void {
  const { e } = g;
  e.testRR(RCX, RCX, true);
  const toEinval = shortJccForward(e, CC_NE);
  e.aluRI(ALU_CMP, RDI, MAX_LOOPS, false);
  const toE2big = shortJccForward(e, CC_A);
  e.push(R12);
  e.push(RDX); // [rsp + 16]: ctx
  e.movRR(RDI, RDI, false);
  e.push(RDI); // [rsp + 8]: nr_loops
  e.push(RDI); // [rsp]: pad
  e.aluRR(ALU_XOR, R12, R12, false);
  const top = e.pos;
  e.rm(0x3b, R12, RSP, 8, 0); // cmp r12d, [rsp + 8]
  const toDone = shortJccForward(e, CC_AE);
  e.movRR(RDI, R12, false);
  e.load(RSI, RSP, 16, 8, false);
  e.aluRR(ALU_XOR, RDX, RDX, false);
  e.aluRR(ALU_XOR, RCX, RCX, false);
  e.aluRR(ALU_XOR, R8, R8, false);
  countAddressTo(g, RAX);
  g.sites.callPos.push(e.pos);
  g.sites.callTarget.push(callee);
  e.callRel(0);
  e.aluRI(ALU_ADD, R12, 1, false);
  e.testRR(RAX, RAX, true);
  e.jcc(CC_E, top - (e.pos + 2), true);
  bindHere(e, toDone);
  e.movRR(RAX, R12, false); // i + 1 after a non-zero return, nr_loops after the last call
  e.aluRI(ALU_ADD, RSP, 24, true);
  e.pop(R12);
  const out1 = shortJmpForward(e);
  bindHere(e, toEinval);
  e.movRIsx(RAX, -EINVAL);
  const out2 = shortJmpForward(e);
  bindHere(e, toE2big);
  e.movRI32(RAX, -E2BIG);
  bindHere(e, out1);
  bindHere(e, out2);
}
