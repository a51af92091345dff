// Runs every bpf_conformance vector through the assembler, the structural check and the
// native interpreter (via the addon), and compares r0 with the expected result.
//
// Calling convention of the suite: r1 = pointer to a copy of `-- mem` (0 without one), r2 =
// its length, r0 at exit is the result. The Linux kernel is the authority: where a vector
// expects something the kernel would not do, the kernel's behaviour is asserted instead, with
// the reason, in KERNEL_DEVIATIONS below.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { rawToBytecode } from '../../src-ts/asm/conformance-format';
import { addon } from '../../src-ts/native/addon';
import { VECTOR_DIR, Vector, loadVectors } from './vectors';

interface RunResult { ok: boolean; r0: bigint; error?: string; errno?: number }
interface CheckResult { ok: boolean; log: string; errno?: number }
const vmRun = addon.vmRun as (insns: Buffer, mem: Buffer | null, opts?: { budget?: number }) => RunResult;
const vmCheck = addon.vmCheck as (insns: Buffer) => CheckResult;

// Generous for these small programs, but turns an interpreter bug into a failure, not a hang.
const BUDGET = 1_000_000;
const EINVAL = 22;

interface Deviation {
  match: RegExp;
  reason: string;
  verify(v: Vector, code: Buffer, check: CheckResult): void;
}

const KERNEL_DEVIATIONS: Deviation[] = [
  {
    // lsh32-imm-high, arsh64-imm-neg, ...: a constant shift amount outside 0..width-1.
    match: /^(lsh|rsh|arsh)(32|64)-imm-(high|neg)$/,
    reason: 'the kernel verifier rejects a constant shift amount outside 0..width-1 ("invalid shift N"), ' +
      'so these programs never run on a kernel; bpftime_vm_check rejects them the same way. The ' +
      'interpreter itself masks shift amounts (63/31) as the ISA specifies, which is what the vector ' +
      'expects, so the run is still checked against the vector result without the check.',
    verify(v, code, check) {
      assert.equal(check.ok, false, 'vmCheck must reject an out-of-range constant shift');
      assert.match(check.log, /invalid shift -?\d+/);
      const run = vmRun(code, v.mem ?? null, { budget: BUDGET });
      assert.ok(run.ok, `run failed: ${run.error}`);
      assert.equal(run.r0, v.result);
    },
  },
  {
    // callx: `call %r2` encodes BPF_JMP|BPF_CALL|BPF_X (0x8d), an indirect call.
    match: /^callx$/,
    reason: 'BPF_JMP|BPF_CALL|BPF_X (callx, 0x8d) is not an instruction the Linux kernel knows: its ' +
      'verifier fails such a program with "unknown opcode 8d" (bpf_conformance itself excludes the ' +
      'callx group when testing Linux). bpftime_vm_check rejects it the same way and the interpreter ' +
      'fails it at run time with EINVAL instead of returning the vector\'s 2.',
    verify(v, code, check) {
      assert.equal(check.ok, false, 'vmCheck must reject callx');
      assert.match(check.log, /unknown opcode 8d/);
      const run = vmRun(code, v.mem ?? null, { budget: BUDGET });
      assert.equal(run.ok, false);
      assert.equal(run.errno, EINVAL);
    },
  },
];

const vectors = loadVectors();

if (vectors.length === 0) {
  test('bpf_conformance vectors', { skip: `no vectors in ${VECTOR_DIR}` }, () => {});
}

for (const v of vectors) {
  test(v.name, () => {
    const code = assemble(v.asm);
    if (v.raw) assert.deepEqual(code, rawToBytecode(v.raw), 'assembler output differs from the -- raw section');
    const check = vmCheck(code);

    const deviation = KERNEL_DEVIATIONS.find((d) => d.match.test(v.name));
    if (deviation) {
      deviation.verify(v, code, check);
      return;
    }
    if (v.error !== undefined) {
      const run = check.ok ? vmRun(code, v.mem ?? null, { budget: BUDGET }) : undefined;
      assert.ok(!check.ok || !run!.ok, `expected failure "${v.error}", but it ran and returned ${run?.r0}`);
      return;
    }
    assert.ok(check.ok, `vmCheck rejected the program:\n${check.log}`);
    const run = vmRun(code, v.mem ?? null, { budget: BUDGET });
    assert.ok(run.ok, `run failed: ${run.error}`);
    assert.equal(run.r0, v.result, `r0 = 0x${run.r0.toString(16)}, expected 0x${v.result?.toString(16)}`);
  });
}

test('every deviation from a vector is documented and still matches a vector', () => {
  for (const d of KERNEL_DEVIATIONS) {
    assert.ok(d.reason.length > 0);
    if (vectors.length) assert.ok(vectors.some((v) => d.match.test(v.name)), `deviation ${d.match} matches no vector`);
  }
});
