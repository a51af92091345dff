// Figure: the control plane: a bpf() command answered by the server, and how long a stock
// tool takes to be ready.
//
// Round trip: examples/bench/map_ops times BPF_OBJ_GET_INFO_BY_FD (a map fd) and
// BPF_MAP_GET_NEXT_ID, which the shim sends to the server over its socket, beside the kernel's
// bpf(). Readiness: /usr/sbin/opensnoop (libbpf-tools) under `script` (so its stdout is a
// terminal and it prints its header at once), from spawn to its "PID    COMM" header line: on
// the kernel, under the shim with a cold server (none runs: the shim starts one in a fresh
// runtime directory) and with a warm one (`bpftime serve` already running).
import fs from 'node:fs';
import path from 'node:path';

import { paths, isRoot, ROOT } from './env';
import { kernelMapOps, mapOpsBin, shimEnv, shimMapOps } from './maps';
import { Proc, sleep } from './proc';
import { Cell, Figure, Row, median, na } from './report';
import { bpftimeMissing, serverPid, withRuntimeDir } from './traced';

const OPENSNOOP = '/usr/sbin/opensnoop';
const HEADER = /PID\s+COMM/;
const REPS = 3;
const RTT_OPS = ['obj_get_info', 'map_get_next_id'];

const ms = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The children of a process (script's child is the tool). */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** One opensnoop start: ms from spawn to its header. `preload`: the shim's path, or none. */
async function openSnoopOnce(env: NodeJS.ProcessEnv, preload: string | null, cli = false): Promise<number> {
  let cmd = preload ? `exec env LD_PRELOAD=${shellQuote(preload)} ${OPENSNOOP}` : `exec ${OPENSNOOP}`;
  if (cli) cmd = `exec ${shellQuote(process.execPath)} ${shellQuote(paths.cli)} load ${OPENSNOOP}`;
  const t0 = ms();
  const p = new Proc('script', ['-q', '-f', '-e', '-c', cmd, '/dev/null'], { env, stdin: 'ignore' });
  try {
    await p.waitFor(HEADER, 30000, 'its "PID    COMM" header');
    return ms() - t0;
  } finally {
    // SIGINT to opensnoop itself (through `bpftime load`, to its node); script then exits.
    for (const c of childrenOf(p.child.pid ?? 0)) {
      try { process.kill(c, 'SIGINT'); } catch { /* gone */ }
    }
    await Promise.race([p.exited, sleep(5000)]);
    if (!p.exit) await p.stop('SIGKILL', 2000);
  }
}

async function column(run: () => Promise<number>): Promise<Cell> {
  const runs: number[] = [];
  try {
    for (let i = 0; i < REPS; i++) runs.push(await run());
  } catch (e) {
    return na((e as Error).message);
  }
  return { ok: true, value: median(runs), runs };
}

async function kernelReady(): Promise<Cell> {
  if (!isRoot()) return na('kernel BPF needs root');
  if (!fs.existsSync(OPENSNOOP)) return na(`${OPENSNOOP} missing (Debian package libbpf-tools)`);
  return column(() => openSnoopOnce(process.env, null));
}

/** A fresh runtime directory per start: the shim starts the server (stopped after). */
async function coldReady(): Promise<Cell> {
  const why = bpftimeMissing(OPENSNOOP);
  if (why) return na(why);
  return column(() => withRuntimeDir((dir) => openSnoopOnce(shimEnv(dir), paths.shim)));
}

/** `bpftime serve` running first; every start meets it. */
async function warmReady(): Promise<{ shim: Cell; cli: Cell }> {
  const why = bpftimeMissing(OPENSNOOP);
  if (why) return { shim: na(why), cli: na(why) };
  return withRuntimeDir(async (dir) => {
    const env = shimEnv(dir);
    delete env.LD_PRELOAD;
    const server = new Proc(process.execPath, [paths.cli, 'serve'], { env, stdin: 'ignore' });
    try {
      const t0 = ms();
      while (!(await serverPid(dir))) {
        if (server.exit || ms() - t0 > 20000) {
          const reason = `bpftime serve did not answer (${server.exitText()})${server.stderrTail()}`;
          return { shim: na(reason), cli: na(reason) };
        }
        await sleep(50);
      }
      const shim = await column(() => openSnoopOnce(shimEnv(dir), paths.shim));
      const cli = await column(() => openSnoopOnce(env, null, true));
      return { shim, cli };
    } finally {
      await server.stop('SIGINT', 5000);
    }
  });
}

export async function controlFigure(log: (s: string) => void): Promise<Figure> {
  const o = { ms: 100, reps: 5 };
  log('control plane: bpf() round trip, kernel');
  const kernel = await kernelMapOps(RTT_OPS, o);
  log('control plane: bpf() round trip, bpftime (server)');
  const shim = await shimMapOps(RTT_OPS, o);
  log('control plane: opensnoop ready, kernel');
  const kReady = await kernelReady();
  log('control plane: opensnoop ready, bpftime, cold server');
  const cold = await coldReady();
  log('control plane: opensnoop ready, bpftime, warm server');
  const warm = await warmReady();

  const rows: Row[] = [];
  const headline: NonNullable<Figure['headline']> = [];
  const names: Record<string, string> = {
    obj_get_info: 'BPF_OBJ_GET_INFO_BY_FD (map)',
    map_get_next_id: 'BPF_MAP_GET_NEXT_ID',
  };
  for (const op of RTT_OPS) {
    rows.push({ label: `kernel, ${names[op]} (ns)`, nsPerCall: kernel[op], overheadNs: null });
    rows.push({ label: `bpftime (shim → server → shim), ${names[op]} (ns)`, nsPerCall: shim[op], overheadNs: null });
    headline.push({ label: `control plane: ${names[op]} round trip`, unit: 'ns', kernel: kernel[op], bpftime: shim[op] });
  }
  rows.push(
    { label: 'kernel: opensnoop ready (ms)', nsPerCall: kReady, overheadNs: null },
    { label: 'bpftime shim, cold server: opensnoop ready (ms)', nsPerCall: cold, overheadNs: null },
    { label: 'bpftime shim, warm server: opensnoop ready (ms)', nsPerCall: warm.shim, overheadNs: null },
    { label: '`bpftime load` (node CLI + shim), warm server: opensnoop ready (ms)', nsPerCall: warm.cli, overheadNs: null },
  );
  headline.push(
    { label: 'opensnoop ready, cold server', unit: 'ms', kernel: kReady, bpftime: cold },
    { label: 'opensnoop ready, warm server', unit: 'ms', kernel: kReady, bpftime: warm.shim },
  );
  return {
    id: 'control-plane',
    title: 'Control plane: server round trips and tool readiness',
    description:
      '`examples/bench/map_ops` times `BPF_OBJ_GET_INFO_BY_FD` on a map fd and `BPF_MAP_GET_NEXT_ID`: on the ' +
      'kernel a syscall, under the shim a round trip to the server over its Unix socket (median of ' +
      `${o.reps} reps of about ${o.ms} ms, after the tool's own calibration has warmed the server). Readiness: ` +
      `\`script -q -f -e -c ${OPENSNOOP} /dev/null\` from spawn to opensnoop's \`PID    COMM\` header (maps ` +
      'created, programs loaded and attached, perf buffers open): on the kernel; with `LD_PRELOAD` of the ' +
      'shim and no server running (cold: the shim starts one, each start in a fresh runtime directory); and ' +
      `with \`bpftime serve\` already running (warm). Median of ${REPS} starts; the ms rows are ms, not ns.`,
    params: { 'round-trip ms per rep': o.ms, 'round-trip reps': o.reps, starts: REPS, tool: OPENSNOOP, 'rtt tool': path.relative(ROOT, mapOpsBin) },
    columns: ['value (ns, or ms where the label says)', 'overhead'],
    rows,
    summary: [],
    headline,
  };
}
