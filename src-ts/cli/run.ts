// `bpftime load` and `bpftime start` from the Node CLI: bin/bpftime (a POSIX sh launcher) makes
// the command's environment and execs it; this runs the launcher in its canonical form, which it
// always handles itself, and passes the exit status on. Plain `bpftime start/load ...` never get
// here: the launcher runs them without starting Node.
import { spawn } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { projectRoot } from './paths';

export const libraries = {
  shim: path.join(projectRoot, 'build', 'lib', 'libbpftime-syscall-server.so'),
  agent: path.join(projectRoot, 'build', 'lib', 'libbpftime-agent.so'),
  // The agent's LD_AUDIT stage: records what the loader and libc do before the agent runs.
  early: path.join(projectRoot, 'build', 'lib', 'libbpftime-early.so'),
};

export const launcher = path.join(projectRoot, 'bin', 'bpftime');

/** The launcher's arguments for running cmd: `--` keeps a cmd that starts with '-' a command. */
export function launcherArgs(kind: 'shim' | 'agent', cmd: string, args: string[], runtimeDir: string, follow = true): string[] {
  const verb = kind === 'agent' ? ['start', ...(follow ? [] : ['--no-follow'])] : ['load'];
  return ['--runtime-dir', runtimeDir, ...verb, '--', cmd, ...args];
}

export function runWith(kind: 'shim' | 'agent', cmd: string, args: string[], runtimeDir: string, opts: { follow?: boolean } = {}): Promise<number> {
  if (!cmd) {
    console.error('bpftime: no command to run');
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    // The server the shim or agent may start runs on this very Node unless told otherwise.
    const env = { ...process.env, BPFTIME_NODE: process.env.BPFTIME_NODE || process.execPath };
    const child = spawn('/bin/sh', [launcher, ...launcherArgs(kind, cmd, args, runtimeDir, opts.follow ?? true)], { stdio: 'inherit', env });
    // Signals sent to us go on to the child, which decides what they mean; we wait for it.
    // (Ctrl-C at a terminal reaches both: a tool sees SIGINT twice, which tools treat as one.)
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as NodeJS.Signals[]) process.on(sig, forward);
    child.on('error', (e) => {
      console.error(`bpftime: cannot run ${launcher}: ${e.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0)));
  });
}
