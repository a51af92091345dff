// Figure: compute kernels through BPF_PROG_TEST_RUN (issue 6): the kernel's JIT, bpftime's JIT
// and interpreter, and the same C compiled natively with -O2; JIT compile time per 1000
// instructions; what BPF_ENABLE_STATS costs per run.
//
// examples/bench/compute_kernels.h holds the kernels (prime counting, log2, memcpy, strcmp,
// switch dispatch, hashing, a bpf_loop-heavy loop). compute.bpf.c wraps each in an XDP program
// over a 4 KiB array-map value; examples/bench/compute runs one through test runs (`repeat`
// runs per call, the duration the kernel reports: mean ns per run) as root on the kernel, and
// under the shim for bpftime (once with the JIT, once with BPFTIME_JIT=0); compute_native runs
// the -O2 build in the same kind of loop. Every engine must return the same result, or the cell
// says so instead of a number.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { compile } from '../../src-ts/jit';
import { isRoot, missing, ROOT } from './env';
import { shimEnv } from './maps';
import { Proc } from './proc';
import { Cell, Figure, Headline, Row, median, na } from './report';
import { bpftimeMissing, withRuntimeDir } from './traced';

const BIN = path.join(ROOT, 'examples/bench/compute');
const NATIVE = path.join(ROOT, 'examples/bench/compute_native');
export const KERNELS = ['primes', 'log2', 'memcpy', 'strcmp', 'switch', 'hash', 'loop'];
const CALLS = 5;          // test-run calls per measurement (the reps)
const TARGET_MS = 40;     // per call
const LINE = /^result=([0-9a-f]+) ns_per_run=([\d.]+)$/;

interface Measure { cell: Cell; result?: string; jited?: number }

/** ns per run for `name` from CALLS calls of `repeat` runs; the result must not change. */
async function runCompute(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Measure> {
  const p = new Proc(cmd, args, { env, stdin: 'ignore' });
  await p.wait(timeoutMs);
  const runs: number[] = [];
  let result: string | undefined;
  let jited: number | undefined;
  for (const l of p.lines) {
    const m = LINE.exec(l);
    if (m) {
      if (result !== undefined && result !== m[1]) return { cell: na(`result changed between calls (${result}, ${m[1]})`) };
      result = m[1];
      runs.push(Number(m[2]));
    }
    const j = /^jited=(\d+)/.exec(l);
    if (j) jited = Number(j[1]);
    const e = /^error: (.*)$/.exec(l);
    if (e) return { cell: na(e[1]) };
  }
  if (p.exit?.code !== 0 || !runs.length) return { cell: na(`${path.basename(cmd)} exited (${p.exitText()})${p.stderrTail()}`) };
  return { cell: { ok: true, value: median(runs), runs }, result, jited };
}

/** Runs per call for ~TARGET_MS, from a first estimate (ns per run). */
const repeatFor = (nsPerRun: number) => Math.max(1, Math.min(5_000_000, Math.round((TARGET_MS * 1e6) / Math.max(nsPerRun, 1))));

/** A test-run measurement: a short call to estimate, then CALLS calibrated calls. */
async function measure(name: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<Measure> {
  const probe = await runCompute(BIN, [name, '20', '1', ...extra], env, 120_000);
  if (!probe.cell.ok) return probe;
  return runCompute(BIN, [name, String(repeatFor(probe.cell.value)), String(CALLS), ...extra], env, 300_000);
}

/** One call of compute_native: `repeat` runs of kernel `name`; its result folded to 32 bits as
 * the XDP programs return it. */
async function nativeOnce(name: string, repeat: number): Promise<{ result: string; ns: number }> {
  const p = new Proc(NATIVE, [name, String(repeat)], { stdin: 'ignore' });
  await p.wait(120_000);
  const m = p.lines.map((l) => LINE.exec(l)).find(Boolean);
  if (!m || p.exit?.code !== 0) throw new Error(`compute_native exited (${p.exitText()})${p.stderrTail()}`);
  const v = BigInt(`0x${m[1]}`);
  return { result: ((v & 0xffffffffn) ^ (v >> 32n)).toString(16).padStart(8, '0'), ns: Number(m[2]) };
}

/** Native -O2 and bpftime's JIT on kernel `name`, call by call in turn (native, JIT, native,
 * ...): this VM's speed drifts by tens of percent within seconds, and measured apart the two
 * sides of the ratio saw different machines. Each JIT call is a test-run process of its own. */
async function measureNativeAndJit(name: string, jitEnv: NodeJS.ProcessEnv, dump: string): Promise<{ native: Measure; jit: Measure }> {
  let native: Measure;
  let jit: Measure;
  try {
    const est = await nativeOnce(name, 50);
    const jitEst = await runCompute(BIN, [name, '20', '1', '--dump', dump], jitEnv, 120_000);
    if (!jitEst.cell.ok) return { native: { cell: na('not measured: the JIT side failed') }, jit: jitEst };
    const nRuns: number[] = [];
    const jRuns: number[] = [];
    let result = est.result;
    let jitResult = jitEst.result;
    let jited = jitEst.jited;
    for (let k = 0; k < CALLS; k++) {
      const n = await nativeOnce(name, repeatFor(est.ns));
      if (n.result !== result) return { native: { cell: na('result changed between runs') }, jit: { cell: na('not measured') } };
      nRuns.push(n.ns);
      const j = await runCompute(BIN, [name, String(repeatFor(jitEst.cell.value)), '1'], jitEnv, 300_000);
      if (!j.cell.ok) return { native: { cell: na('not measured: the JIT side failed') }, jit: j };
      if (j.result !== jitResult) return { native: { cell: na('not measured') }, jit: { cell: na(`result changed between calls (${jitResult}, ${j.result})`) } };
      jitResult = j.result;
      jited = j.jited ?? jited;
      jRuns.push(j.cell.value);
    }
    native = { cell: { ok: true, value: median(nRuns), runs: nRuns }, result };
    jit = { cell: { ok: true, value: median(jRuns), runs: jRuns }, result: jitResult, jited };
  } catch (e) {
    return { native: { cell: na((e as Error).message) }, jit: { cell: na('not measured') } };
  }
  return { native, jit };
}

const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);

function geoCell(cells: Cell[], what: string): Cell {
  const ok = cells.filter((c): c is Extract<Cell, { ok: true }> => c.ok);
  if (ok.length !== cells.length || !ok.length) return na(`${what}: not every kernel measured`);
  return { ok: true, value: geomean(ok.map((c) => c.value)), runs: [], note: `geometric mean of ${ok.length} kernels` };
}

/** Cells that disagree with the reference result become n/a. */
function checked(m: Measure, ref: string | undefined, who: string): Cell {
  if (!m.cell.ok || ref === undefined || m.result === undefined || m.result === ref) return m.cell;
  return na(`${who} returned 0x${m.result}, the others 0x${ref}`);
}

/** JIT compile time (ns per 1000 instructions) of the programs bpftime loaded: their xlated
 * instructions (dumped through bpf_prog_info under the shim), with map references made plain
 * immediates (the cost of compiling does not depend on them). Median of 7 reps of 40 ms after
 * a second of warm-up. */
function compileCost(files: string[]): Cell {
  const LD_IMM64 = 0x18;
  const progs = files.filter((f) => fs.existsSync(f)).map((f) => {
    const b = Buffer.from(fs.readFileSync(f));
    for (let i = 0; i + 8 <= b.length; i += 8) {
      if (b[i] !== LD_IMM64) continue;
      const src = b[i + 1] >> 4;
      if (src === 1 || src === 2) b[i + 1] &= 0x0f; // BPF_PSEUDO_MAP_FD / _VALUE
      i += 8;
    }
    return b;
  });
  if (!progs.length) return na('no program dumped');
  for (const p of progs) {
    const r = compile(p);
    if (!r.ok) return na(`not JIT-able: ${r.kind}: ${r.reason}`);
  }
  const insns = progs.reduce((a, p) => a + p.length / 8, 0);
  const t0 = Date.now();
  while (Date.now() - t0 < 1000) for (const p of progs) compile(p); // warm-up: V8 optimises the compiler
  const runs: number[] = [];
  for (let rep = 0; rep < 7; rep++) {
    let times = 0;
    const s = process.hrtime.bigint();
    while (Number(process.hrtime.bigint() - s) < 40e6 || times < 2) {
      for (const p of progs) compile(p);
      times++;
    }
    runs.push(Number(process.hrtime.bigint() - s) / times / insns * 1000);
  }
  return { ok: true, value: median(runs), runs, note: `${progs.length} programs, ${insns} insns` };
}

/** The run function itself (scripts/bench/native/stats_cost.c against the core library): ns per
 * run with no statistics page, with one and stats off, and with stats on. */
function statsCost(log: (s: string) => void): { none: Cell; off: Cell; on: Cell } {
  const lib = path.join(ROOT, 'build/Release/bpftime_core.a');
  const why = missing([lib], 'npm run build');
  if (why) return { none: na(why), off: na(why), on: na(why) };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-stats-cost-'));
  try {
    const exe = path.join(dir, 'stats_cost');
    execFileSync('cc', ['-O2', '-I', path.join(ROOT, 'src-native/include'), path.join(ROOT, 'scripts/bench/native/stats_cost.c'),
      lib, '-lpthread', '-o', exe], { stdio: 'pipe', timeout: 60_000 });
    const out = execFileSync(exe, ['5000000'], { encoding: 'utf8', timeout: 120_000 });
    const m = /none=([\d.]+) off=([\d.]+) on=([\d.]+)/.exec(out);
    if (!m) return { none: na(`unexpected output: ${out}`), off: na('-'), on: na('-') };
    const c = (v: string): Cell => ({ ok: true, value: Number(v), runs: [Number(v)], note: 'best of 9' });
    return { none: c(m[1]), off: c(m[2]), on: c(m[3]) };
  } catch (e) {
    log(`test-run: stats_cost: ${(e as Error).message.split('\n')[0]}`);
    const r = na(`stats_cost: ${(e as Error).message}`);
    return { none: r, off: r, on: r };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function testRunFigure(log: (s: string) => void): Promise<Figure> {
  const kernelWhy = !isRoot() ? 'kernel BPF needs root' : missing([BIN], 'run scripts/build-examples.sh');
  const shimWhy = bpftimeMissing(BIN);
  const nativeWhy = missing([NATIVE], 'run scripts/build-examples.sh');
  const dumpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-compute-'));
  const res: Record<string, { native: Measure; kernel: Measure; jit: Measure; interp: Measure }> = {};
  let stats: { kOff: Measure; kOn: Measure; bOff: Measure; bOn: Measure } | undefined;
  let compileCell: Cell = na('not measured');
  let runFn: { none: Cell; off: Cell; on: Cell } = { none: na('not measured'), off: na('not measured'), on: na('not measured') };
  try {
    await withRuntimeDir(async (jitDir) => withRuntimeDir(async (interpDir) => {
      const jitEnv = shimEnv(jitDir);
      const interpEnv = { ...shimEnv(interpDir), BPFTIME_JIT: '0' };
      for (const k of KERNELS) {
        log(`test-run: ${k}`);
        const dump = path.join(dumpDir, `${k}.insns`);
        const { native, jit } = nativeWhy || shimWhy
          ? { native: nativeWhy ? { cell: na(nativeWhy) } : { cell: na('measured only beside the JIT') },
              jit: shimWhy ? { cell: na(shimWhy) } : await measure(k, jitEnv, ['--dump', dump]) }
          : await measureNativeAndJit(k, jitEnv, dump);
        const kernel = kernelWhy ? { cell: na(kernelWhy) } : await measure(k, process.env);
        const interp = shimWhy ? { cell: na(shimWhy) } : await measure(k, interpEnv);
        res[k] = { native, kernel, jit, interp };
      }
      log('test-run: stats off/on');
      stats = {
        kOff: kernelWhy ? { cell: na(kernelWhy) } : await measure('nop', process.env),
        kOn: kernelWhy ? { cell: na(kernelWhy) } : await measure('nop', process.env, ['--stats']),
        bOff: shimWhy ? { cell: na(shimWhy) } : await measure('nop', jitEnv),
        bOn: shimWhy ? { cell: na(shimWhy) } : await measure('nop', jitEnv, ['--stats']),
      };
    }));
    log('test-run: the run function with stats off/on');
    runFn = statsCost(log);
    log('test-run: JIT compile time');
    compileCell = shimWhy ? na(shimWhy) : compileCost(KERNELS.map((k) => path.join(dumpDir, `${k}.insns`)));
  } finally {
    fs.rmSync(dumpDir, { recursive: true, force: true });
  }

  const rows: Row[] = [];
  const cols = { native: [] as Cell[], kernel: [] as Cell[], jit: [] as Cell[], interp: [] as Cell[] };
  const ratio = (a: Cell, b: Cell): Cell => (a.ok && b.ok ? { ok: true, value: a.value / b.value, runs: [] } : na('no pair'));
  for (const k of KERNELS) {
    const r = res[k];
    // The reference result: the kernel's when it ran, else the native one.
    const ref = r.kernel.result ?? r.native.result;
    const native = checked(r.native, ref, 'native -O2');
    const kernel = r.kernel.cell;
    const jit = checked(r.jit, ref, 'bpftime JIT');
    const interp = checked(r.interp, ref, 'bpftime interpreter');
    cols.native.push(native); cols.kernel.push(kernel); cols.jit.push(jit); cols.interp.push(interp);
    rows.push({ label: `native -O2, ${k}`, nsPerCall: native, overheadNs: null });
    rows.push({ label: `kernel JIT, ${k}`, nsPerCall: kernel, overheadNs: ratio(kernel, native) });
    rows.push({ label: `bpftime JIT, ${k}`, nsPerCall: jit, overheadNs: ratio(jit, native) });
    rows.push({ label: `bpftime interpreter, ${k}`, nsPerCall: interp, overheadNs: ratio(interp, native) });
  }
  const g = { native: geoCell(cols.native, 'native'), kernel: geoCell(cols.kernel, 'kernel'), jit: geoCell(cols.jit, 'bpftime JIT'), interp: geoCell(cols.interp, 'interpreter') };
  const s = stats!;
  rows.push({ label: 'kernel, empty XDP program, stats off', nsPerCall: s.kOff.cell, overheadNs: null });
  rows.push({ label: 'kernel, empty XDP program, BPF_ENABLE_STATS on', nsPerCall: s.kOn.cell, overheadNs: null });
  rows.push({ label: 'bpftime, empty XDP program, stats off', nsPerCall: s.bOff.cell, overheadNs: null });
  rows.push({ label: 'bpftime, empty XDP program, BPF_ENABLE_STATS on', nsPerCall: s.bOn.cell, overheadNs: null });
  rows.push({ label: 'bpftime_prog_run of a 2-insn program (interpreter), no statistics page', nsPerCall: runFn.none, overheadNs: null });
  rows.push({ label: 'bpftime_prog_run, statistics page, stats off', nsPerCall: runFn.off, overheadNs: null });
  rows.push({ label: 'bpftime_prog_run, statistics page, stats on', nsPerCall: runFn.on, overheadNs: null });
  rows.push({ label: 'bpftime JIT compile time, ns per 1000 instructions', nsPerCall: compileCell, overheadNs: null });

  const summary: Figure['summary'] = [
    { label: 'geometric mean, bpftime JIT ÷ native -O2 (target ≤ 1.3)', cell: ratio(g.jit, g.native) },
    { label: 'geometric mean, bpftime JIT ÷ kernel JIT (target ≤ 1.0)', cell: ratio(g.jit, g.kernel) },
    { label: 'geometric mean, bpftime interpreter ÷ bpftime JIT', cell: ratio(g.interp, g.jit) },
    {
      label: 'what stats off add to a run (bpftime_prog_run with a statistics page, stats off, minus no page), ns',
      cell: runFn.off.ok && runFn.none.ok ? { ok: true, value: runFn.off.value - runFn.none.value, runs: [] } : na('not measured'),
    },
  ];
  const ms = (c: Cell): Cell => (c.ok ? { ...c, value: c.value / 1e6, runs: c.runs.map((x) => x / 1e6) } : c);
  const headline: Headline[] = [
    { label: 'test run, compute kernels (geomean), JIT', unit: 'ns', kernel: g.kernel, bpftime: g.jit, target: { kind: 'speedup', value: 1.0 } },
    { label: 'test run, compute kernels (geomean), JIT vs the same C natively -O2', unit: 'ns', kernel: g.native, bpftime: g.jit, kernelLabel: 'native -O2', target: { kind: 'slowdown', value: 1.3 } },
    { label: 'test run, compute kernels (geomean), interpreter', unit: 'ns', kernel: g.kernel, bpftime: g.interp },
    { label: 'JIT compile time per 1000 instructions', unit: 'ms', kernel: na('the kernel JIT is not timed here'), bpftime: ms(compileCell), target: { kind: 'max', value: 1 }, chart: false },
    { label: 'empty program run with BPF_ENABLE_STATS on', unit: 'ns', kernel: s.kOn.cell, bpftime: s.bOn.cell, chart: false },
  ];
  return {
    id: 'test-run',
    title: 'Compute kernels through BPF_PROG_TEST_RUN (ns per run)',
    description:
      'C kernels from `examples/bench/compute_kernels.h` (prime counting by trial division below 1500, log2 of 512 ' +
      'words by shifting, a 2 KiB memcpy in 8-byte words, 32 strcmp of ~50-byte strings, a 2048-step switch ' +
      'dispatch, FNV-1a over 4 KiB, and 4096 bpf_loop iterations of an xorshift step) compiled with `clang -O2 ' +
      '-target bpf` into XDP programs (`compute.bpf.c`) over a 4 KiB array-map value, and run by ' +
      '`examples/bench/compute` through `bpf_prog_test_run_opts` with `repeat` runs per call: on the kernel (as ' +
      'root, its JIT), and under the shim for bpftime (JIT, and the interpreter with BPFTIME_JIT=0), where the ' +
      'server runs the program with the agents\' loader. The value is the duration the test run reports (mean ' +
      `ns per run), median of ${CALLS} calls of about ${TARGET_MS} ms; the same C compiled natively with -O2 ` +
      '(`compute_native`, called through a function pointer) is the baseline, and the second column is the ' +
      'ratio to it. Native and bpftime JIT calls alternate (native, JIT, native, ...; a JIT call is a test-run ' +
      'process of its own), so that both sides of that ratio see the same machine: measured apart they ' +
      'differed by up to 2x from run to run on a VM whose speed drifts. All engines must agree on every result. The last rows: what one run of an empty program ' +
      'costs with and without BPF_ENABLE_STATS (off, a run reads one shared word; on, two clock reads and two ' +
      'atomic adds); the run function every hook and test run goes through (`bpftime_prog_run`, timed by ' +
      '`scripts/bench/native/stats_cost.c` against the core library on a 2-instruction interpreted program: ' +
      'without a statistics page, with one and stats off, with stats on; interleaved, best of 9); and the JIT ' +
      'compile time of these programs.',
    params: { calls: CALLS, 'ms per call': TARGET_MS, kernels: KERNELS.join(' '), 'buffer bytes': 4096 },
    columns: ['ns per run', 'ratio to native -O2'],
    rows,
    summary,
    headline,
  };
}
