// Shared pieces of the libbpf-tools end-to-end tests: a C workload compiled for the test, a
// stock tool on a pty (libbpf-tools buffer stdout unless it is a terminal) either under the shim
// or on the kernel, and waiting until the server has pushed the tool's attachments.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, launcher, withServer } from './harness';

export { withServer };
import { queryStatus } from '../../src-ts/cli/status';

/** Compiles a C workload into a fresh directory; returns the binary's path. */
export function buildC(name: string, source: string, flags: string[] = []): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const src = path.join(dir, `${name}.c`);
  const bin = path.join(dir, name);
  fs.writeFileSync(src, source);
  execFileSync('cc', ['-O1', '-g', '-o', bin, src, ...flags]);
  return bin;
}

/** A stock tool on a pty: under the shim (`bpftime load`), or on the kernel when env is
 * undefined. Its stdin stays open, so it runs until stopped. */
export function toolOnPty(cmdline: string, env?: NodeJS.ProcessEnv): Proc {
  const cmd = env ? `${launcher} load ${cmdline}` : cmdline;
  return new Proc('script', ['-q', '-f', '-e', '-c', cmd, '/dev/null'], env ?? process.env, { stdin: true });
}

/** Waits (bounded) until the server reports at least n attachments. */
export async function waitAttached(dir: string, n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = await queryStatus(dir);
    if (s.attachments.length >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether BPF tools can run on this kernel: root, a mounted tracefs. The kernel runs of the
 * tests skip themselves otherwise. */
export function kernelToolsUsable(): string | false {
  if ((process.getuid?.() ?? 1) !== 0) return 'not root: no kernel reference';
  if (!fs.existsSync('/sys/kernel/tracing/events')) return 'tracefs not mounted (mount -t tracefs nodev /sys/kernel/tracing): no kernel reference';
  return false;
}

/** Runs a command to completion under the agent (`bpftime start`) or plainly. */
export function runWorkload(env: NodeJS.ProcessEnv | undefined, argv: string[]): { out: string; status: number | null } {
  const r = env
    ? spawnSync(launcher, ['start', ...argv], { env, encoding: 'utf8', timeout: 30000 })
    : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 30000 });
  return { out: (r.stdout ?? '') + (r.stderr ?? ''), status: r.status };
}

/** The lines of a tool's output that match re, without the pty's carriage returns. */
export function linesMatching(out: string, re: RegExp): string[] {
  return out.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => re.test(l));
}

/** Waits until the tool printed at least n lines matching re. */
export async function waitLines(p: Proc, re: RegExp, n: number, timeoutMs = 15000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = linesMatching(p.out, re);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline || p.done) {
      throw new Error(`wanted ${n} lines matching ${re}, got ${lines.length}; output:\n${p.out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits (bounded) until the agent of process pid has installed at least n attachments (the
 * tool's attach call waits for agents at most a second; a busy process may take longer). */
export async function waitInstalled(dir: string, pid: string | number, n: number, timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await queryStatus(dir);
    const installed = s.attachments.filter((a: any) => a.agents.some((g: any) => String(g.pid) === String(pid) && g.state === 'attached'));
    if (installed.length >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the agent of ${pid} did not install ${n} attachments in ${timeoutMs} ms`);
}
