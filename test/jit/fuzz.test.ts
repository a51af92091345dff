// Differential fuzzing: random valid programs (fuzzgen.ts) run in the interpreter and as JIT
// code must leave the same r0 and the same memory (the stack area and the registers are
// copied to memory before exit). Some call bpf_loop with JIT'ed subprograms as callbacks.
//
// Fixed seed by default, so CI is reproducible; BPFTIME_JIT_FUZZ_SEED and
// BPFTIME_JIT_FUZZ_N explore further. A failure prints the seed and the program.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { disassemble } from '../../src-ts/asm/disassembler';
import { compile } from '../../src-ts/jit';
import { JIT_HOST, jitRun, vmCheck, vmRun } from './engines';
import { Rng, generate } from './fuzzgen';
import { BPF_FUNC_loop } from '../../src-ts/uapi/bpf';

const SEED = Number(process.env.BPFTIME_JIT_FUZZ_SEED ?? 0x5eed);
const N = Number(process.env.BPFTIME_JIT_FUZZ_N ?? 4000);

function describe(seed: number, idx: number, code: Buffer): string {
  return `seed ${seed}, program ${idx}:\n${disassemble(code).map((l, k) => `  ${k}: ${l}`).join('\n')}`;
}

test(`JIT vs interpreter: ${N} random programs (seed ${SEED})`, { skip: !JIT_HOST && `the JIT emits x86-64; this host is ${process.arch}` }, () => {
  const rng = new Rng(SEED);
  let insns = 0, withLoops = 0;
  for (let idx = 0; idx < N; idx++) {
    const { code, mem } = generate(rng);
    insns += code.length / 8;
    for (let o = 0; o < code.length; o += 8) {
      if (code[o] === 0x85 && code[o + 1] === 0 && code.readInt32LE(o + 4) === BPF_FUNC_loop) {
        withLoops++;
        break;
      }
    }
    const out = compile(code);
    if (!out.ok) assert.fail(`JIT rejected: ${out.kind}: ${out.reason} (insn ${out.insn})\n${describe(SEED, idx, code)}`);
    const vm = vmRun(code, mem, { budget: 1_000_000 });
    assert.ok(vm.ok, `interpreter failed: ${vm.error}\n${describe(SEED, idx, code)}`);
    const jit = jitRun(out, mem);
    assert.ok(jit.ok, `JIT load failed: ${jit.error}`);
    if (jit.r0 !== vm.r0 || !jit.mem!.equals(vm.mem!)) {
      const diff: string[] = [];
      for (let k = 0; k < mem.length; k += 8) {
        const a = vm.mem!.readBigUInt64LE(k), b = jit.mem!.readBigUInt64LE(k);
        if (a !== b) diff.push(`  mem[${k}]: interpreter 0x${a.toString(16)}, JIT 0x${b.toString(16)}`);
      }
      assert.fail(`r0: interpreter 0x${vm.r0.toString(16)}, JIT 0x${jit.r0.toString(16)}\n${diff.join('\n')}\n${describe(SEED, idx, code)}`);
    }
  }
  // The generator must produce what the kernel's structural rules accept (spot check).
  const sample = generate(new Rng(SEED + 1)).code;
  const check = vmCheck(sample);
  assert.ok(check.ok || /invalid shift/.test(check.log), check.log);
  assert.ok(insns > N * 20);
  // Callbacks (bpf_loop calling JIT'ed subprograms) are part of the mix.
  assert.ok(withLoops > N / 50, `${withLoops} programs with bpf_loop`);
});
