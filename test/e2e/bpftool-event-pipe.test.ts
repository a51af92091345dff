// bpftool map event_pipe under the shim: stock bpftool opens its own BPF_OUTPUT perf events
// (sample_type RAW | TIME), puts them in the slots of another tool's PERF_EVENT_ARRAY
// (examples/perfbuf, sending each malloc of a victim run by `bpftime start`) and prints each
// record: its time, CPU and slot, and the raw bytes. The record layout must follow sample_type
// as the kernel's does, or bpftool reads the raw size from the wrong place. Where the kernel can
// run BPF, the same workload on the kernel gives the reference.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, haveCommand, root, shimLib, tmpRuntimeDir } from './harness';
import { startRun, targetArgv } from './run-mode';
import { kernelSkip } from './bcc-scenario';

const tool = path.join(root, 'examples', 'perfbuf', 'perfbuf');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const skip = !haveCommand('bpftool') ? 'bpftool not installed' : !fs.existsSync(tool) ? 'examples not built' : false;

interface Sample { time: bigint; cpu: number; index: number; bytes: number[] }

/** bpftool's event_pipe output: "== @SEC.NSEC CPU: C index: I =====" and a hex dump each. */
function samples(out: string): Sample[] {
  return [...out.matchAll(/^== @(\d+)\.(\d{9}) CPU: (\d+) index: (\d+) =+\n((?:[0-9a-f]{2}(?: {1,2}[0-9a-f]{2})*\n)*)/gm)].map((m) => ({
    time: BigInt(m[1]) * 1000000000n + BigInt(m[2]),
    cpu: Number(m[3]),
    index: Number(m[4]),
    bytes: m[5].split(/\s+/).filter(Boolean).map((h) => parseInt(h, 16)),
  }));
}

/** examples/perfbuf's struct event: pid, tid, size, comm. The raw size the kernel reports
 * includes the padding that keeps the record 8-aligned after the u32 size: 32 + 4 bytes. */
function decode(b: number[]): string {
  const buf = Buffer.from(b);
  if (buf.length !== 36 || buf.readUInt32LE(32) !== 0) return `${buf.length} bytes: ${buf.toString('hex')}`;
  return `pid=${buf.readUInt32LE(0)} tid=${buf.readUInt32LE(4)} size=${buf.readBigUInt64LE(8)} comm=${buf.subarray(16, 32).toString('latin1').replace(/\0+$/, '')}`;
}

async function run(mode: 'shim' | 'kernel'): Promise<string[]> {
  const dir = tmpRuntimeDir();
  const procs: Proc[] = [];
  try {
    const base = await startRun(mode, dir, procs);
    const toolEnv = mode === 'shim' ? { ...base, LD_PRELOAD: shimLib } : base;
    const [vCmd, ...vArgs] = targetArgv(mode, [victim]);
    const v = new Proc(vCmd, vArgs, base, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    // the tool's map: on the kernel other tools' maps may share its name, so the one made after
    // the maps that were there before the tool started
    const mapList = (): any[] => {
      const r = spawnSync('bpftool', ['-j', 'map', 'show'], { env: toolEnv, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const old = new Set(mapList().map((m) => m.id));
    const t = new Proc(tool, ['-p', String(pid)], toolEnv);
    procs.push(t);
    await t.waitFor(/Tracing malloc/);
    const maps = mapList().filter((m) => m.type === 'perf_event_array' && m.name === 'events' && !old.has(m.id));
    assert.equal(maps.length, 1, JSON.stringify(maps));
    const pipe = new Proc('bpftool', ['map', 'event_pipe', 'id', String(maps[0].id)], toolEnv);
    procs.push(pipe);
    // bpftool says nothing once its events are in the map's slots: mallocs until one arrives
    for (let i = 0; samples(pipe.out).length === 0; i++) {
      if (i > 100 || pipe.done) throw new Error(`bpftool printed no sample:\n${pipe.out}`);
      const from = v.out.length;
      v.write('1\n');
      await v.waitFor(/done 1/, 15000, from);
      await new Promise((res) => setTimeout(res, 200));
    }
    await new Promise((res) => setTimeout(res, 300));
    const before = samples(pipe.out).length;
    const t0 = process.hrtime.bigint();
    v.write('3\n');
    await v.waitFor(/done 3/);
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < 100 && samples(pipe.out).length < before + 3; i++) await new Promise((res) => setTimeout(res, 50));
    await new Promise((res) => setTimeout(res, 300)); // nothing more may come
    const got = samples(pipe.out).slice(before);
    assert.equal(got.length, 3, pipe.out);
    for (const s of got) {
      // perf's clock is the kernel's local_clock: nanoseconds since boot, which userspace reads
      // as CLOCK_MONOTONIC (node's hrtime) give or take the drift between the two (milliseconds
      // on these virtual machines): within a second of the call, not another clock's epoch
      const slack = 1000000000n;
      assert.ok(s.time >= t0 - slack && s.time <= t1 + slack, `[${mode}] sample time ${s.time} far from [${t0}, ${t1}]`);
      assert.equal(s.index, s.cpu, `[${mode}] BPF_F_CURRENT_CPU: the slot of the CPU`);
      assert.equal(decode(s.bytes), `pid=${pid} tid=${pid} size=16 comm=victim`, `[${mode}]`);
    }
    return got.map((s) => decode(s.bytes).replace(String(pid), 'PID').replace(String(pid), 'PID'));
  } catch (e) {
    if (mode === 'shim') (e as Error).message += `\nserver log:\n${procs[0]?.out}`;
    throw e;
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGINT');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('bpftool map event_pipe prints another tool\'s perf buffer records (RAW | TIME) as on the kernel', { skip, timeout: 120000 }, async (t) => {
  const shim = await run('shim');
  if (kernelSkip) {
    t.diagnostic(`kernel reference skipped: ${kernelSkip}`);
    return;
  }
  assert.deepEqual(shim, await run('kernel'));
});
