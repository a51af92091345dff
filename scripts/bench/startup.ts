// Figure: what the agent costs a process that is not traced: start-up time and memory.
//
// Start-up: /bin/true from spawn to exit, plain, then with the agent (LD_PRELOAD, through
// `bpftime start` (bin/bpftime, the sh launcher that execs the command) and through the Node CLI
// (`node bin/bpftime.js start`, which runs the launcher after Node's start-up)), against a warm
// server (`bpftime serve` running) and a cold one (none: the agent starts it in a fresh runtime
// directory).
// Memory: VmRSS of examples/bench/uprobe_victim while it idles at its ready line, plain and
// under `bpftime start`.
import fs from 'node:fs';
import path from 'node:path';

import { paths } from './env';
import { Proc, sleep } from './proc';
import { Cell, Figure, Row, median, na } from './report';
import { bpftimeMissing, cliEnv, serverPid, withRuntimeDir } from './traced';

const TRUE = '/bin/true';
// The `bpftime` command as installed (package.json "bin"): the sh launcher.
const LAUNCHER = path.join(path.dirname(paths.cli), 'bpftime');
const REPS = 10;
const MEM_REPS = 3;
const READY = /^ready pid=(\d+)$/;

const ms = (): number => Number(process.hrtime.bigint()) / 1e6;

async function timeRun(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = ms();
  const p = new Proc(cmd, args, { env, stdin: 'ignore' });
  await p.wait(30000);
  const t = ms() - t0;
  if (p.exit?.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited (${p.exitText()})${p.stderrTail()}`);
  return t;
}

async function column(reps: number, run: () => Promise<number>): Promise<Cell> {
  const runs: number[] = [];
  try {
    await run(); // page cache, the server's first client
    for (let i = 0; i < reps; i++) runs.push(await run());
  } catch (e) {
    return na((e as Error).message);
  }
  return { ok: true, value: median(runs), runs: runs.map((r) => Math.round(r * 1000) / 1000) };
}

/** Runs `fn` with `bpftime serve` answering in a fresh runtime directory. */
async function withServer<T>(fn: (env: NodeJS.ProcessEnv) => Promise<T>, fail: (why: string) => T): Promise<T> {
  return withRuntimeDir(async (dir) => {
    const env = { ...cliEnv(dir), BPFTIME_NODE: process.execPath };
    const server = new Proc(process.execPath, [paths.cli, 'serve'], { env, stdin: 'ignore' });
    try {
      const t0 = ms();
      while (!(await serverPid(dir))) {
        if (server.exit || ms() - t0 > 20000) return fail(`bpftime serve did not answer (${server.exitText()})${server.stderrTail()}`);
        await sleep(50);
      }
      return await fn(env);
    } finally {
      await server.stop('SIGINT', 5000);
    }
  });
}

function vmRssKiB(pid: string): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** VmRSS of the victim idling at its ready line (after a pause for the agent to settle). */
async function idleRss(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const p = new Proc(cmd, args, { env });
  try {
    const pid = (await p.waitFor(READY, 20000, 'its ready line'))[1];
    await sleep(300);
    return vmRssKiB(pid);
  } finally {
    await p.stop('SIGKILL', 2000);
  }
}

export async function startupFigure(log: (s: string) => void): Promise<Figure> {
  const why = bpftimeMissing(paths.uprobeVictim);
  log('agent start-up: plain /bin/true');
  const plain = await column(REPS, () => timeRun(TRUE, [], process.env));

  log('agent start-up: with the agent, warm server');
  const warm = await withServer(async (env) => {
    const preload = await column(REPS, () => timeRun(TRUE, [], { ...env, LD_PRELOAD: paths.agent }));
    const cli = await column(REPS, () => timeRun(LAUNCHER, ['start', TRUE], env));
    const nodeCli = await column(REPS, () => timeRun(process.execPath, [paths.cli, 'start', TRUE], env));
    return { preload, cli, nodeCli };
  }, (w) => ({ preload: na(w), cli: na(w), nodeCli: na(w) }));

  log('agent start-up: `bpftime start`, cold server');
  const cold = why ? na(why) : await column(Math.min(REPS, 3), () => withRuntimeDir(
    (dir) => timeRun(LAUNCHER, ['start', TRUE], cliEnv(dir))));

  log('agent memory: idle victim');
  const victimArgs = ['1', 'bench_target'];
  const rssPlain = why ? na(why) : await column(MEM_REPS, () => idleRss(paths.uprobeVictim, victimArgs, process.env));
  const rssAgent = why ? na(why) : await withServer(
    (env) => column(MEM_REPS, () => idleRss(LAUNCHER, ['start', paths.uprobeVictim, ...victimArgs], env)),
    (w) => na(w));
  let added: Cell = na('no pair of measurements');
  if (rssPlain.ok && rssAgent.ok) added = { ok: true, value: rssAgent.value - rssPlain.value, runs: [] };

  const rows: Row[] = [
    { label: 'plain /bin/true (ms)', nsPerCall: plain, overheadNs: null },
    { label: 'LD_PRELOAD=libbpftime-agent.so /bin/true, warm server (ms)', nsPerCall: warm.preload, overheadNs: null },
    { label: '`bpftime start /bin/true` (sh launcher + agent), warm server (ms)', nsPerCall: warm.cli, overheadNs: null },
    { label: '`node bin/bpftime.js start /bin/true` (Node CLI, then the launcher), warm server (ms)', nsPerCall: warm.nodeCli, overheadNs: null },
    { label: '`bpftime start /bin/true`, cold server (ms)', nsPerCall: cold, overheadNs: null },
    { label: 'idle victim VmRSS, plain (KiB)', nsPerCall: rssPlain, overheadNs: null },
    { label: 'idle victim VmRSS, under `bpftime start` (KiB)', nsPerCall: rssAgent, overheadNs: null },
    { label: 'VmRSS the agent adds (KiB)', nsPerCall: added, overheadNs: null },
  ];
  if (added.ok && rssAgent.ok) rssAgent.note = `+${added.value} KiB`;
  return {
    id: 'agent-startup',
    title: 'Agent start-up and memory',
    description:
      `\`${TRUE}\` from spawn to exit: plain; with \`LD_PRELOAD\` of the agent and \`bpftime serve\` running (the ` +
      'agent registers with the server before main); through `bpftime start` (bin/bpftime, a sh launcher that ' +
      'execs it with the agent, no Node); through the Node CLI (`node bin/bpftime.js start`, which runs the ' +
      'launcher once Node has started, and stays as the parent); and `bpftime start` with no server (the agent ' +
      'starts one in a fresh runtime directory). ' +
      `Median of ${REPS} runs (3 cold) after one unmeasured run. Memory: VmRSS from /proc/<pid>/status of ` +
      '`examples/bench/uprobe_victim` idling at its ready line, 300 ms after it, plain and under ' +
      `\`bpftime start\` (median of ${MEM_REPS}). Time rows are ms, memory rows KiB.`,
    params: { reps: REPS, 'memory reps': MEM_REPS },
    columns: ['value (ms or KiB, as the label says)', 'overhead'],
    rows,
    summary: [],
    headline: [
      { label: 'process start-up with the agent (LD_PRELOAD, warm server)', unit: 'ms', kernel: plain, bpftime: warm.preload, kernelLabel: 'plain /bin/true' },
      { label: 'process start-up via `bpftime start` (warm server)', unit: 'ms', kernel: plain, bpftime: warm.cli, kernelLabel: 'plain /bin/true' },
      { label: 'idle victim VmRSS with the agent', unit: 'KiB', kernel: rssPlain, bpftime: rssAgent, kernelLabel: 'plain process' },
    ],
  };
}
