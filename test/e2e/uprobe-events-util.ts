// What the uprobe_events tests share: the kernel and bcc preconditions, and the run of a Python
// tool script (test/programs/*.py) that puts BPF programs on legacy uprobe events of a victim,
// under the shim or on the kernel.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import { Proc, bpftimeEnv, cli, isRoot, shimLib, tmpRuntimeDir } from './harness';

export const PY = '/usr/bin/python3';
export const TRACEFS = '/sys/kernel/tracing';

/** Why the kernel reference cannot run here, or false. */
export const kernelSkip = !isRoot ? 'not root' : !fs.existsSync(`${TRACEFS}/uprobe_events`) ? 'tracefs not mounted'
  : spawnSync('bpftool', ['-j', 'prog', 'show']).status !== 0 ? 'no kernel BPF (bpftool prog show fails)' : false;

/** Why bcc's Python cannot run here, or false. */
export const bccSkip = spawnSync(PY, ['-c', 'import bcc']).status !== 0 ? 'python3-bpfcc not installed (scripts/setup.sh)'
  : !fs.existsSync(`/lib/modules/${os.release()}/build`) ? 'no kernel headers (scripts/setup.sh links them)' : false;

/** The environment of a tool under the shim with its runtime in dir. */
export function shimEnv(dir: string): NodeJS.ProcessEnv {
  return { ...bpftimeEnv(dir), LD_PRELOAD: shimLib };
}

/**
 * Runs `python3 script victim PID ...extraArgs` against a victim doing the `work` lines (default
 * `add 5`; test/programs/bcc_victim.c): the script prints "attached" once its probes are in, and on the line "count"
 * on stdin prints its counts, detaches and prints "after detach: ...". Returns its transcript.
 */
export async function toolOnVictim(mode: 'shim' | 'kernel', script: string, victim: string, extraArgs: string[] = [], work = ['add 5']): Promise<string> {
  const dir = tmpRuntimeDir();
  const env = mode === 'shim' ? bpftimeEnv(dir) : { ...process.env };
  delete env.LD_PRELOAD;
  const procs: Proc[] = [];
  try {
    if (mode === 'shim') {
      const server = new Proc(process.execPath, [cli, 'serve'], env);
      procs.push(server);
      await server.waitFor(/serving on/);
    }
    const v = new Proc(...((mode === 'shim' ? [process.execPath, [cli, 'start', victim]] : [victim, []]) as [string, string[]]), env, { stdin: true });
    procs.push(v);
    const pid = (await v.waitFor(/ready pid=(\d+)/, 30000))[1];
    const tool = new Proc(PY, [script, victim, pid, ...extraArgs], { ...env, PYTHONUNBUFFERED: '1', ...(mode === 'shim' ? { LD_PRELOAD: shimLib } : {}) }, { stdin: true });
    procs.push(tool);
    await tool.waitFor(/^attached$/m, 90000);
    for (const w of work) {
      v.write(`${w}\n`);
      await v.waitFor(new RegExp(`done ${w}`));
    }
    tool.write('count\n');
    await tool.waitFor(/^after detach: .*$/m, 20000);
    assert.equal(await tool.exited, 0, tool.out);
    return tool.out;
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
