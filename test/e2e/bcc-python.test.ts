// bcc's tools for Python (Debian's bpfcc-tools 0.26, unmodified) on Debian's CPython 3.11, whose
// interpreter binary carries USDT probes guarded by semaphores (the probe sites are skipped
// until a tracer raises the semaphore, which the shim does through ref_ctr_offset as a kernel
// does). The victim is test/programs/py_victim.py under the agent; where the kernel can run BPF,
// the same workload on the kernel gives the reference. (CPython 3.11 fires no function__entry
// probes, on a kernel too, so ucalls/uflow -l python have nothing to show there.)
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { root } from './harness';
import { bccMissing, doneLine, sbin, shimAndKernel } from './bcc-scenario';

const PYTHON = '/usr/bin/python3';
const victim = path.join(root, 'test', 'programs', 'py_victim.py');
const skip = bccMissing() || (!fs.existsSync(sbin('ugc')) && 'bcc ugc not installed') || (!fs.existsSync(PYTHON) && `no ${PYTHON}`);

/** ugc's event lines: START, TIME (us) and the description, which its Python formatter leaves
 * None (it does not return the string it builds). */
const gcLines = (out: string) => out.split('\n').filter((l) => /^\d+\.\d+\s+\d+\.\d+\s+None\s*$/.test(l));

test('ugc -l python: each gc.collect() through CPython\'s semaphore-guarded gc__start/gc__done probes', { skip, timeout: 240000 }, async (t) => {
  await shimAndKernel(t, {
    target: [PYTHON, victim],
    tool: [sbin('ugc'), '-l', 'python', '{PID}'],
    ready: /^START\s+TIME \(us\) DESCRIPTION/m,
    untilPolling: true, // its header comes before its perf buffer
    steps: ['gc 3', 'gc 2'],
    done: doneLine,
    until: (out) => gcLines(out).length >= 5,
  }, (out) => {
    const lines = gcLines(out);
    assert.equal(lines.length, 5, out);
    // START: seconds since the tool started, in order; TIME: the collection's length, well
    // under a second for a small heap.
    const starts = lines.map((l) => Number(l.split(/\s+/)[0]));
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b));
    for (const l of lines) assert.ok(Number(l.split(/\s+/)[1]) < 1e6, l);
    return lines.length;
  });
});
