// Tail calls made by callbacks themselves are refused as a 6.18 kernel refuses them
// (src-ts/verifier/callback_tail.ts); a callback may call a function that tail-calls, and code no
// path reaches is not judged. The kernel's verdict for a clang-compiled program is compared in
// test/e2e/tailcall-callback.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as U from '../../src-ts/uapi/bpf';
import { encodeInsns, insn as asmInsn } from '../../src-ts/asm';
import { callbackTailCall } from '../../src-ts/verifier/callback_tail';

const insn = (code: number, dst: number, src: number, off: number, imm: number): Buffer => encodeInsns([asmInsn(code, dst, src, off, imm)]);
const LD = U.BPF_LD | U.BPF_IMM | U.BPF_DW;
const ldFunc = (dst: number, rel: number) => [insn(LD, dst, U.BPF_PSEUDO_FUNC, 0, rel), insn(0, 0, 0, 0, 0)];
const call = (id: number) => insn(U.BPF_JMP | U.BPF_CALL, 0, 0, 0, id);
const callLocal = (rel: number) => insn(U.BPF_JMP | U.BPF_CALL, 0, U.BPF_PSEUDO_CALL, 0, rel);
const movImm = (dst: number, imm: number) => insn(U.BPF_ALU64 | U.BPF_MOV | U.BPF_K, dst, 0, 0, imm);
const exit = () => insn(U.BPF_JMP | U.BPF_EXIT, 0, 0, 0, 0);
const all = (n: number) => new Uint8Array(n).fill(1);

test('a tail call in a callback\'s own body is refused with the kernel\'s words', () => {
  // 0-1: ld callback (insn 6); 2: r1 = 3; 3: call bpf_loop; 4: r0 = 0; 5: exit; 6: callback: tail call; 7: r0 = 0; 8: exit
  const prog = Buffer.concat([...ldFunc(2, 4), movImm(1, 3), call(U.BPF_FUNC_loop), movImm(0, 0), exit(),
    call(U.BPF_FUNC_tail_call), movImm(0, 0), exit()]);
  const r = callbackTailCall(prog, all(9));
  assert.equal(r?.insn, 6);
  assert.equal(r?.log, '6: (85) call bpf_tail_call#12\nAt callback return the register R0 has unknown scalar value should have been in [0, 1]');
  // Not reached (dead code): not judged.
  const live = all(9);
  live[6] = 0;
  assert.equal(callbackTailCall(prog, live), null);
  // The main program's own tail call is no callback's.
  assert.equal(callbackTailCall(Buffer.concat([call(U.BPF_FUNC_tail_call), exit()]), all(2)), null);
});

test('a callback may call a function that tail-calls', () => {
  // 0-1: ld callback (insn 6); 2: r1 = 3; 3: call bpf_loop; 4: r0 = 0; 5: exit;
  // 6: callback: call local 9; 7: r0 = 0; 8: exit; 9: tail call; 10: exit
  const prog = Buffer.concat([...ldFunc(2, 4), movImm(1, 3), call(U.BPF_FUNC_loop), movImm(0, 0), exit(),
    callLocal(2), movImm(0, 0), exit(), call(U.BPF_FUNC_tail_call), exit()]);
  assert.equal(callbackTailCall(prog, all(11)), null);
});
