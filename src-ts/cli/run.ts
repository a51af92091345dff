// `bpftime load` and `bpftime start`: run a command with the shim or the agent preloaded, in the
// runtime directory the server uses, and pass its exit status on.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from './paths';

export const libraries = {
  shim: path.join(projectRoot, 'build', 'lib', 'libbpftime-syscall-server.so'),
  agent: path.join(projectRoot, 'build', 'lib', 'libbpftime-agent.so'),
  // The agent's LD_AUDIT stage: records what the loader and libc do before the agent runs.
  early: path.join(projectRoot, 'build', 'lib', 'libbpftime-early.so'),
};

export function preloadEnv(kind: 'shim' | 'agent', runtimeDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const lib = libraries[kind];
  const preload = [lib, ...(base.LD_PRELOAD ?? '').split(/[: ]/).filter((p) => p && p !== lib)].join(':');
  const audit = kind === 'agent' && fs.existsSync(libraries.early)
    ? { LD_AUDIT: [libraries.early, ...(base.LD_AUDIT ?? '').split(/[: ]/).filter((p) => p && p !== libraries.early)].join(':') }
    : {};
  return {
    ...base,
    ...audit,
    LD_PRELOAD: preload,
    BPFTIME_RUNTIME_DIR: runtimeDir,
    // How the shim or agent starts the server when none runs: this very Node and this checkout.
    BPFTIME_NODE: base.BPFTIME_NODE ?? process.execPath,
    BPFTIME_SERVER_JS: base.BPFTIME_SERVER_JS ?? path.join(projectRoot, 'dist', 'src-ts', 'server', 'main.js'),
  };
}

export function runWith(kind: 'shim' | 'agent', cmd: string, args: string[], runtimeDir: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<number> {
  const lib = libraries[kind];
  if (!fs.existsSync(lib)) {
    console.error(`bpftime: ${lib} is missing - build it with \`npm install\` in ${projectRoot}`);
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env: { ...preloadEnv(kind, runtimeDir), ...extraEnv } });
    // Signals sent to us go on to the child, which decides what they mean; we wait for it.
    // (Ctrl-C at a terminal reaches both: a tool sees SIGINT twice, which tools treat as one.)
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as NodeJS.Signals[]) process.on(sig, forward);
    child.on('error', (e) => {
      console.error(`bpftime: cannot run ${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (require('os').constants.signals[signal] ?? 0) : 0)));
  });
}
