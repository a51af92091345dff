// Where things are, and what can run here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// The repository root: the harness runs from dist/scripts/bench/.
function findRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'bpftime-ts') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('bench: repository root (package.json of bpftime-ts) not found');
    dir = up;
  }
}

export const ROOT = findRoot();

export const paths = {
  mallocTool: path.join(ROOT, 'examples/malloc/malloc'),
  uprobeVictim: path.join(ROOT, 'examples/bench/uprobe_victim'),
  cli: path.join(ROOT, 'bin/bpftime.js'),
  shim: path.join(ROOT, 'build/lib/libbpftime-syscall-server.so'),
  agent: path.join(ROOT, 'build/lib/libbpftime-agent.so'),
};

// null when every file is there, else a reason naming the first missing one.
export function missing(files: string[], hint: string): string | null {
  for (const f of files) {
    if (!fs.existsSync(f)) return `${path.relative(ROOT, f)} missing; ${hint}`;
  }
  return null;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

export function hostInfo(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    kernel: os.release(),
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    node: process.version,
  };
}
