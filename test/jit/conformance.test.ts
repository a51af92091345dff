// Every bpf_conformance vector compiled by the JIT and run by the native loader must give the
// interpreter's r0 (and the same final memory), which is the vector's result except where
// test/conformance documents a kernel deviation:
//  - out-of-range constant shifts (lsh32-imm-high, ...): the kernel verifier rejects them, the
//    ISA masks the amount; the JIT masks like the interpreter, so the vector result holds;
//  - callx (0x8d) is not a Linux instruction: the JIT rejects it as invalid, the interpreter
//    fails it at run time.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { compile } from '../../src-ts/jit';
import { loadVectors, VECTOR_DIR } from '../conformance/vectors';
import { JIT_HOST, jitRun, vmCheck, vmRun } from './engines';

const BUDGET = 1_000_000;
const EINVAL = 22;
const SHIFT_OUT_OF_RANGE = /^(lsh|rsh|arsh)(32|64)-imm-(high|neg)$/;

const vectors = loadVectors();
const skip = !JIT_HOST ? `the JIT emits x86-64; this host is ${process.arch}`
  : vectors.length === 0 ? `no vectors in ${VECTOR_DIR}` : false;

if (skip) {
  test('JIT: bpf_conformance vectors', { skip }, () => {});
} else {
  for (const v of vectors) {
    test(`JIT: ${v.name}`, () => {
      const code = assemble(v.asm);
      const out = compile(code);
      const vm = vmRun(code, v.mem ?? null, { budget: BUDGET });

      if (v.name === 'callx') {
        assert.equal(out.ok, false, 'callx must not compile');
        assert.ok(!out.ok && out.kind === 'invalid' && /unknown opcode 8d/.test(out.reason), JSON.stringify(out));
        assert.equal(vm.ok, false);
        assert.equal(vm.errno, EINVAL);
        return;
      }
      if (v.error !== undefined) {
        // Expected failures: the checker or the JIT must refuse, or the run must fail.
        const check = vmCheck(code);
        assert.ok(!check.ok || !out.ok || !jitRun(out, v.mem ?? null).ok, `expected failure "${v.error}"`);
        return;
      }
      if (SHIFT_OUT_OF_RANGE.test(v.name)) assert.equal(vmCheck(code).ok, false);

      assert.ok(out.ok, `JIT rejected the program: ${!out.ok && `${out.kind}: ${out.reason} (insn ${out.insn})`}`);
      assert.ok(vm.ok, `interpreter failed: ${vm.error}`);
      const jit = jitRun(out, v.mem ?? null);
      assert.ok(jit.ok, `JIT load failed: ${jit.error}`);
      assert.equal(jit.r0, vm.r0, `JIT r0 0x${jit.r0.toString(16)} != interpreter 0x${vm.r0.toString(16)}`);
      assert.equal(jit.r0, v.result, `r0 = 0x${jit.r0.toString(16)}, expected 0x${v.result?.toString(16)}`);
      assert.deepEqual(jit.mem, vm.mem, 'final memory differs');
    });
  }
}
