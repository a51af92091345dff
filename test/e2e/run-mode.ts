// What the tests that run one scenario twice, under the shim and on the kernel, share: the
// environment of the run's processes and, under the shim, a server of the run's own.
import { Proc, bpftimeEnv, cli } from './harness';

/** Under the shim (a server of the run's own, targets under `bpftime start`) or on the kernel. */
export type Mode = 'shim' | 'kernel';

/**
 * The environment of a run's processes, never with an inherited LD_PRELOAD. Under the shim it
 * points at runtime dir dir and a server is started there (pushed to procs, which the caller
 * stops) and waited for.
 */
export async function startRun(mode: Mode, dir: string, procs: Proc[]): Promise<NodeJS.ProcessEnv> {
  const base: NodeJS.ProcessEnv = mode === 'shim' ? bpftimeEnv(dir) : { ...process.env };
  delete base.LD_PRELOAD;
  if (mode === 'shim') {
    const server = new Proc(process.execPath, [cli, 'serve'], base);
    procs.push(server);
    await server.waitFor(/serving on/);
  }
  return base;
}

/** The command line of a target: under `bpftime start` for the shim, as it is for the kernel. */
export function targetArgv(mode: Mode, argv: string[]): string[] {
  return mode === 'shim' ? [process.execPath, cli, 'start', ...argv] : argv;
}
