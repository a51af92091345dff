// Figures: how fast the JIT compiles, and how much faster JIT code runs than the interpreter.
//
// Kernels: examples/bench/kernels/*.asm (assembled with src-ts/asm) and *.bpf.c (compiled
// here with clang -target bpf; the .text section is the program: no maps, no globals). All
// run with r1 = a 4 KiB buffer, r2 = its length, through the addon: vmRun for the interpreter,
// jitRun for JIT output loaded by bpftime_jit_load. Both engines must return the same r0, or
// the JIT cell says so instead of a number. Run times are measured natively (repeat loop
// around the call), so they exclude the addon's own cost and the JIT's load time.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { assemble } from '../../src-ts/asm';
import { encodeInsns, Insn, insn } from '../../src-ts/asm/insn';
import * as O from '../../src-ts/asm/opcodes';
import { compile, JitCode } from '../../src-ts/jit';
import { addon } from '../../src-ts/native/addon';
import { ROOT } from './env';
import { Cell, Figure, Row, median, na } from './report';

const KERNEL_DIR = path.join(ROOT, 'examples/bench/kernels');
const REPS = 5;
const TARGET_MS = 40; // per measured rep
const WARMUP_MS = 500;
const MEM = Buffer.from(Array.from({ length: 4096 }, (_, k) => Math.imul(k, 2654435761) >>> 24));

interface RunResult { ok: boolean; r0: bigint; ns: number; error?: string }
const vmRun = addon.vmRun as (c: Buffer, m: Buffer | null, o?: { repeat?: number }) => RunResult;
const jitRun = addon.jitRun as (c: Buffer, r: JitCode['relocs'], m: Buffer | null, o?: { repeat?: number }) => RunResult;

interface Kernel { name: string; code: Buffer | null; reason?: string }

function loadKernels(log: (s: string) => void): Kernel[] {
  const files = fs.existsSync(KERNEL_DIR) ? fs.readdirSync(KERNEL_DIR).sort() : [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-jit-bench-'));
  const out: Kernel[] = [];
  try {
    for (const f of files) {
      const full = path.join(KERNEL_DIR, f);
      if (f.endsWith('.asm')) {
        out.push({ name: f, code: assemble(fs.readFileSync(full, 'utf8')) });
      } else if (f.endsWith('.bpf.c')) {
        const obj = path.join(tmp, `${f}.o`), bin = path.join(tmp, `${f}.bin`);
        try {
          execFileSync('clang', ['-target', 'bpf', '-O2', '-c', full, '-o', obj], { stdio: 'pipe', timeout: 60_000 });
          execFileSync('llvm-objcopy', ['-O', 'binary', '--only-section=.text', obj, bin], { stdio: 'pipe', timeout: 60_000 });
          out.push({ name: f, code: fs.readFileSync(bin) });
        } catch (e) {
          log(`jit: ${f}: ${(e as Error).message.split('\n')[0]}`);
          out.push({ name: f, code: null, reason: `clang -target bpf / llvm-objcopy failed: ${(e as Error).message}` });
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

/** A large synthetic program: every ALU op in both widths, stack loads/stores, ld_imm64,
 * helper calls and forward jumps of 1..400 instructions (short and long forms). */
export function syntheticProgram(n: number): Buffer {
  let s = 0x12345678;
  const rnd = (k: number) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % k;
  };
  const ops = [O.BPF_ADD, O.BPF_SUB, O.BPF_MUL, O.BPF_DIV, O.BPF_OR, O.BPF_AND, O.BPF_LSH, O.BPF_RSH,
    O.BPF_MOD, O.BPF_XOR, O.BPF_MOV, O.BPF_ARSH];
  const conds = [O.BPF_JEQ, O.BPF_JNE, O.BPF_JGT, O.BPF_JSLT, O.BPF_JSET];
  const out: Insn[] = [];
  while (out.length < n - 1) {
    const k = rnd(20);
    const d = rnd(10), sr = rnd(10);
    if (k < 10) {
      const op = ops[rnd(ops.length)];
      const cls = rnd(2) ? O.BPF_ALU64 : O.BPF_ALU;
      const shift = op === O.BPF_LSH || op === O.BPF_RSH || op === O.BPF_ARSH;
      if (rnd(2)) out.push(insn(cls | op | O.BPF_X, d, sr));
      else out.push(insn(cls | op | O.BPF_K, d, 0, 0, shift ? rnd(32) : rnd(100000) - 50000));
    } else if (k < 13) {
      out.push(insn(O.BPF_LDX | O.BPF_MEM | O.BPF_DW, d, 10, -8 * (1 + rnd(64))));
    } else if (k < 16) {
      out.push(insn(O.BPF_STX | O.BPF_MEM | O.BPF_W, 10, sr, -4 * (1 + rnd(128))));
    } else if (k < 17) {
      out.push(insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, d, 0, 0, rnd(1 << 30)), insn(0, 0, 0, 0, rnd(1 << 30)));
    } else if (k < 18) {
      out.push(insn(O.BPF_JMP | O.BPF_CALL, 0, 0, 0, 5));
    } else {
      out.push(insn(O.BPF_JMP | conds[rnd(conds.length)] | O.BPF_K, d, 0, -1, rnd(100)));
    }
  }
  out.push(insn(O.BPF_JMP | O.BPF_EXIT));
  // Jump offsets: forward, never past the exit, never into the second half of an ld_imm64.
  for (let i = 0; i < out.length; i++) {
    if (out[i].off !== -1 || (out[i].code & 7) !== O.BPF_JMP) continue;
    let t = Math.min(out.length - 1, i + 1 + (rnd(4) === 0 ? rnd(400) : rnd(20)));
    while (t > 0 && out[t - 1].code === (O.BPF_LD | O.BPF_IMM | O.BPF_DW) && t - 1 > i) t++;
    out[i].off = Math.min(t, out.length - 1) - i - 1;
  }
  return encodeInsns(out);
}

const msNow = () => Number(process.hrtime.bigint()) / 1e6;

const per1k = (ms: number, times: number, insns: number) => (ms * 1e6) / times / insns * 1000;

/** The first compile in this process: what a fresh server pays (V8 has not optimised the
 * compiler yet). */
function coldCell(code: Buffer): Cell {
  const t0 = msNow();
  compile(code);
  const v = per1k(msNow() - t0, 1, code.length / 8);
  return { ok: true, value: v, runs: [v], note: `${code.length / 8} insns` };
}

/** Compiles everything for a while so the measured reps see the steady state. */
function warmUp(codes: Buffer[]): void {
  for (let round = 0; round < 2; round++) {
    for (const c of codes) {
      const t0 = msNow();
      while (msNow() - t0 < WARMUP_MS / codes.length / 2) compile(c);
    }
  }
}

/** Compile time in ns per 1000 instructions: the median of warm reps. */
function compileCell(code: Buffer): Cell {
  const insns = code.length / 8;
  const r = compile(code);
  if (!r.ok) return na(`not JIT-able: ${r.kind}: ${r.reason}`);
  let t0: number;
  const runs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    let times = 0;
    t0 = msNow();
    while (msNow() - t0 < TARGET_MS || times < 2) {
      compile(code);
      times++;
    }
    runs.push(per1k(msNow() - t0, times, insns));
  }
  return { ok: true, value: median(runs), runs, note: `${insns} insns, ${r.code.length} bytes of code` };
}

/** ns per program run, median of REPS reps of a calibrated number of runs. */
function runCell(run: (repeat: number) => RunResult): { cell: Cell; r0?: bigint } {
  const once = run(1);
  if (!once.ok) return { cell: na(once.error ?? 'run failed') };
  const repeat = Math.max(1, Math.min(1_000_000, Math.round((TARGET_MS * 1e6) / Math.max(once.ns, 50))));
  const runs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const r = run(repeat);
    if (!r.ok || r.r0 !== once.r0) return { cell: na(r.error ?? 'result changed between runs') };
    runs.push(r.ns / repeat);
  }
  return { cell: { ok: true, value: median(runs), runs }, r0: once.r0 };
}

export async function benchJit(log: (s: string) => void): Promise<Figure[]> {
  const kernels = loadKernels(log);
  const big = syntheticProgram(100_000);
  const compileRows: Row[] = [];
  const codes = kernels.flatMap((k) => (k.code ? [k.code] : []));
  if (codes.length) {
    compileRows.push({ label: `first compile in this process (${kernels.find((k) => k.code)!.name})`, nsPerCall: coldCell(codes[0]), overheadNs: null });
  }
  compileRows.push({ label: 'first compile in this process (synthetic, 100k insns)', nsPerCall: coldCell(big), overheadNs: null });
  log('jit: compiler warm-up');
  warmUp([...codes, big]);
  const runRows: Row[] = [];
  const summary: Figure['summary'] = [];
  const jitHost = process.arch === 'x64';

  for (const k of kernels) {
    log(`jit: ${k.name}`);
    if (!k.code) {
      const c = na(k.reason ?? 'no code');
      compileRows.push({ label: k.name, nsPerCall: c, overheadNs: null });
      runRows.push({ label: `interpreter, ${k.name}`, nsPerCall: c, overheadNs: null });
      continue;
    }
    const code = k.code;
    compileRows.push({ label: k.name, nsPerCall: compileCell(code), overheadNs: null });

    const interp = runCell((repeat) => vmRun(code, MEM, { repeat }));
    runRows.push({ label: `interpreter, ${k.name}`, nsPerCall: interp.cell, overheadNs: null });
    const out = compile(code);
    let jit: { cell: Cell; r0?: bigint };
    if (!jitHost) jit = { cell: na(`the JIT emits x86-64; this host is ${process.arch}`) };
    else if (!out.ok) jit = { cell: na(`not JIT-able: ${out.reason}`) };
    else jit = runCell((repeat) => jitRun(out.code, out.relocs, MEM, { repeat }));
    if (jit.cell.ok && interp.cell.ok && jit.r0 !== interp.r0) {
      jit = { cell: na(`r0 0x${jit.r0?.toString(16)} differs from the interpreter's 0x${interp.r0?.toString(16)}`) };
    }
    runRows.push({ label: `JIT, ${k.name}`, nsPerCall: jit.cell, overheadNs: null });
    summary.push({
      label: `interpreter / JIT run time, ${k.name}`,
      cell: jit.cell.ok && interp.cell.ok
        ? { ok: true, value: Math.round((interp.cell.value / jit.cell.value) * 100) / 100, runs: [] }
        : na('no pair of measurements'),
    });
  }

  log('jit: synthetic 100k-instruction program');
  compileRows.push({ label: 'synthetic, 100k insns', nsPerCall: compileCell(big), overheadNs: null });

  return [
    {
      id: 'jit-compile',
      title: 'JIT compile time (ns per 1000 eBPF instructions)',
      description:
        'Wall time of `compile()` (src-ts/jit: decode, checks, one code pass, branch relaxation, ' +
        'relocation table) in the Node process, per 1000 instructions; the "ns per call" column is that ' +
        'figure. "First compile" is the very first call in the process (V8 has not optimised the compiler ' +
        `yet: what a fresh server pays once); the others are the median of ${REPS} reps of ${TARGET_MS} ms ` +
        `after ${WARMUP_MS} ms of warm-up. Small programs are dominated by a fixed cost of a few µs per ` +
        'program. The synthetic program mixes every ALU op, stack loads/stores, ld_imm64, helper calls ' +
        'and forward jumps of up to 400 instructions.',
      params: { reps: REPS, 'ms per rep': TARGET_MS, 'warm-up ms': WARMUP_MS, kernels: path.relative(ROOT, KERNEL_DIR) },
      rows: compileRows,
      summary: [],
    },
    {
      id: 'jit-run',
      title: 'Interpreter vs JIT: ns per program run',
      description:
        'Compute kernels from `examples/bench/kernels` run by the native interpreter (vmRun) and as JIT ' +
        'code (jitRun), with r1 = a 4 KiB buffer and r2 = its length; both must return the same r0. ' +
        `Median of ${REPS} reps, each a native loop of runs lasting about ${TARGET_MS} ms.`,
      params: { reps: REPS, 'ms per rep': TARGET_MS, 'buffer bytes': MEM.length },
      rows: runRows,
      summary,
    },
  ];
}
