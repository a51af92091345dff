// bcc's Java tools (Debian's bpfcc-tools 0.26, unmodified: ucalls, uflow) on OpenJDK 17's
// HotSpot USDT probes (method__entry/method__return in libjvm.so's .note.stapsdt, fired with
// -XX:+ExtendedDTraceProbes). The victim is examples/java/Workload.java under the agent; each
// tool's output is checked exactly and, where the kernel can run BPF, compared with the kernel's
// for the same workload. bcc reads the class and method names out of the JVM's memory with
// bpf_probe_read_user (80 bytes, past the end of the names: what follows them is garbage on
// the kernel too, so only the victim's own methods are compared).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { root } from './harness';
import { Scenario, bccMissing, doneLine, sbin, shimAndKernel } from './bcc-scenario';

const JDK = '/usr/lib/jvm/java-17-openjdk-amd64';
const skip = bccMissing() || (!fs.existsSync(`${JDK}/bin/javac`) && 'OpenJDK 17 not installed') || (!fs.existsSync(sbin('ucalls')) && 'bcc ucalls not installed');

let classDir = '';
/** The victim's command line (compiled once per file). -Xint: no JIT, every call is a call. */
function jvm(): string[] {
  if (!classDir) {
    classDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bcc-java-'));
    execFileSync(`${JDK}/bin/javac`, ['-d', classDir, path.join(root, 'examples', 'java', 'Workload.java')]);
  }
  return [`${JDK}/bin/java`, '-XX:+ExtendedDTraceProbes', '-Xint', '-cp', classDir, 'Workload'];
}

/** ucalls' table: calls (and with -L, total time) per method or syscall. */
function ucallsTable(out: string): Map<string, number> {
  const table = out.slice(out.search(/^METHOD\s+# CALLS/m));
  return new Map([...table.matchAll(/^(\S+)\s+(\d+)(?:\s+[\d.]+)?\s*$/gm)].map((m) => [m[1], Number(m[2])]));
}

/** The victim's own methods (class Workload and its nested classes) from ucalls' table. */
const workloadCalls = (t: Map<string, number>) => Object.fromEntries([...t].filter(([k]) => /^Workload[.$]/.test(k)).sort());

test('ucalls: Java method calls counted through HotSpot method__entry probes', { skip, timeout: 300000 }, async (t) => {
  await shimAndKernel(t, {
    target: jvm(),
    tool: [sbin('ucalls'), '-l', 'java', '{PID}'],
    ready: /^Tracing calls in process \d+ \(language: java\)/m,
    steps: ['calls 7', 'calls 4'],
    done: doneLine,
  } satisfies Scenario, (out) => {
    const calls = workloadCalls(ucallsTable(out));
    assert.deepEqual(calls, { 'Workload.inner': 11, 'Workload.outer': 11, 'Workload.run': 2 });
    return calls;
  });
});

test('ucalls -L: Java method latencies (entry and return probes paired)', { skip, timeout: 300000 }, async (t) => {
  await shimAndKernel(t, {
    target: jvm(),
    tool: [sbin('ucalls'), '-l', 'java', '-L', '{PID}'],
    ready: /^Tracing calls in process \d+ \(language: java\)/m,
    steps: ['calls 5', 'thread alpha'],
    done: doneLine,
  }, (out) => {
    assert.match(out, /^METHOD\s+# CALLS\s+TIME \(us\)/m);
    const calls = workloadCalls(ucallsTable(out));
    // the worker thread's run calls inner once more
    assert.deepEqual(calls, { 'Workload$Worker.<init>': 1, 'Workload$Worker.run': 1, 'Workload.inner': 6, 'Workload.outer': 5, 'Workload.run': 2 });
    return calls;
  });
});

/** uflow's lines per thread: the indented arrow and method, in order. Its columns are
 * "%-3d %-6d %-6d %-8.3f %s": the method column starts after the time field's width. */
function uflowThreads(out: string): Map<string, string[]> {
  const threads = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const m = /^\d+\s+\d+\s+(\d+)\s+([\d.]+)/.exec(line);
    if (!m) continue;
    const method = line.slice(m[0].length - m[2].length + Math.max(8, m[2].length) + 1).trimEnd();
    if (!/^\s*(->|<-) /.test(method)) continue;
    if (!threads.has(m[1])) threads.set(m[1], []);
    threads.get(m[1])!.push(method);
  }
  return threads;
}

const nest = (depth: number, s: string) => '  '.repeat(depth) + s;
const outerCall = [nest(1, '-> Workload.outer'), nest(2, '-> Workload.inner'), nest(2, '<- Workload.inner'), nest(1, '<- Workload.outer')];
/** What uflow -C Workload prints for "calls 3" and "thread alpha" in the main thread, and in the
 * started thread. */
const MAIN_TAIL = [
  '-> Workload.run', ...outerCall, ...outerCall, ...outerCall, '<- Workload.run',
  '-> Workload.run', nest(1, '-> Workload$Worker.<init>'), nest(1, '<- Workload$Worker.<init>'), '<- Workload.run',
];
const WORKER = ['-> Workload$Worker.run', nest(1, '-> Workload.inner'), nest(1, '<- Workload.inner'), '<- Workload$Worker.run'];

function uflowFlows(out: string): { main: string[]; worker: string[] } | undefined {
  const threads = [...uflowThreads(out).values()];
  const main = threads.find((l) => l.includes('-> Workload.run'));
  const worker = threads.find((l) => l[0] === '-> Workload$Worker.run');
  if (!main || !worker || main.length < MAIN_TAIL.length) return undefined;
  return { main: main.slice(-MAIN_TAIL.length), worker };
}

test('uflow -C: the flow of Java method entries and returns, per thread', { skip, timeout: 300000 }, async (t) => {
  await shimAndKernel(t, {
    // on one CPU: uflow's events come through per-CPU perf buffers, and a thread that moves
    // between CPUs has its events printed out of order (on a kernel too)
    target: ['taskset', '-c', '0', ...jvm()],
    tool: [sbin('uflow'), '-l', 'java', '-C', 'Workload', '{PID}'],
    ready: /^CPU PID\s+TID\s+TIME\(us\) METHOD/m,
    // uflow opens its perf buffer after printing its header: calls until one comes through
    warmUp: { line: 'calls 1', seen: /<- Workload\.run/ },
    steps: ['calls 3', 'thread alpha'],
    done: doneLine,
    until: (out) => uflowFlows(out)?.main.at(-1) === '<- Workload.run' && uflowFlows(out)!.worker.length >= WORKER.length,
  }, (out) => {
    const flows = uflowFlows(out);
    assert.deepEqual(flows, { main: MAIN_TAIL, worker: WORKER });
    return flows;
  });
});

test('ucalls -S: Java method calls and the JVM\'s syscalls (raw_syscalls tracepoints) together', { skip, timeout: 300000 }, async (t) => {
  await shimAndKernel(t, {
    target: jvm(),
    tool: [sbin('ucalls'), '-l', 'java', '-S', '{PID}'],
    ready: /^Tracing calls in process \d+ \(language: java\)/m,
    steps: ['calls 2', 'calls 3'],
    done: doneLine,
  }, (out) => {
    assert.match(out, /^Attached kernel tracepoints for syscall tracing\.$/m);
    const table = ucallsTable(out);
    const calls = workloadCalls(table);
    assert.deepEqual(calls, { 'Workload.inner': 5, 'Workload.outer': 5, 'Workload.run': 2 });
    // each command: one write of its answer (the other threads' futex and getrusage counts are
    // timing); and a read of its line, but ucalls counts a syscall at its exit only when it saw
    // the entry, and the JVM may have entered the first read before the probes were in; a
    // blocking read that a signal interrupts is counted again when it is restarted (its exit is
    // seen with -ERESTARTSYS, on a kernel too): so at least one, and not exact (3 seen once in CI)
    const io = { write: table.get('write') };
    assert.deepEqual(io, { write: 2 });
    assert.ok((table.get('read') ?? 0) >= 1, `read counted ${table.get('read')} times`);
    // nothing of what the programs' helpers do (bcc reads the names with bpf_probe_read_user)
    assert.deepEqual(['process_vm_readv', 'getpid', 'gettid'].filter((k) => table.has(k)), []);
    return [calls, io];
  });
});

/** ugc's lines: one per collection and per memory pool it went through (its formatter prints
 * None as the description). */
const gcLines = (out: string) => out.split('\n').filter((l) => /^\d+\.\d+\s+\d+\.\d+\s+None\s*$/.test(l)).length;
/** ugc's lines for one System.gc() of OpenJDK 17's serial collector: the collection itself
 * (gc__begin/end) and each memory pool it reports (mem__pool__gc__begin/end), as counted on the
 * kernel. */
const PER_GC = 7;

test('ugc -l java (javagc-bpfcc): garbage collections through HotSpot gc and mem pool probes', { skip: skip || (!fs.existsSync(sbin('ugc')) && 'bcc ugc not installed'), timeout: 300000 }, async (t) => {
  const N = 5;
  await shimAndKernel(t, {
    target: [...jvm().slice(0, 1), '-XX:+UseSerialGC', ...jvm().slice(1)],
    tool: [sbin('ugc'), '-l', 'java', '{PID}'], // what javagc-bpfcc runs (from a shell script)
    ready: /^START\s+TIME \(us\) DESCRIPTION/m,
    untilPolling: true, // its header comes before its perf buffer
    steps: ['gc 3', 'gc 2'],
    done: doneLine,
    until: (out) => gcLines(out) >= PER_GC * N,
  }, (out) => {
    assert.equal(gcLines(out), PER_GC * N, out);
    return gcLines(out);
  });
});
