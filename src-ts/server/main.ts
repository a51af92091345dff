// Entry point of the syscall server process. The shim starts it with --daemon when a tool
// makes its first call and none runs; `bpftime serve` runs it in the foreground.
import * as fs from 'fs';
import { installCompileCache } from './compile_cache';
installCompileCache(); // before the modules below are loaded
import { Server } from './server';
import { log } from './log';
import { defaultRuntimeDir } from '../cli/runtime';

export function runServer(runtimeDir: string, idleMs: number, agentsFromAnyUid = agentsFromAnyUidEnv()): Server | null {
  const server = new Server({ runtimeDir, idleMs, agentsFromAnyUid });
  if (!server.start()) {
    log(`another server already runs in ${runtimeDir}`);
    return null;
  }
  tellReady();
  const bye = () => {
    server.stop();
    process.exit(0);
  };
  process.on('SIGINT', bye);
  process.on('SIGTERM', bye);
  return server;
}

/** BPFTIME_AGENTS_FROM_ANY_UID=1: what `bpftime serve --agents-from-any-uid` asks, for a server
 * a tool's shim starts. */
function agentsFromAnyUidEnv(): boolean {
  return process.env.BPFTIME_AGENTS_FROM_ANY_UID === '1';
}

/** The shim or agent that started us waits on a pipe (BPFTIME_READY_FD) for the moment we
 * listen, instead of trying to connect in a sleeping loop. */
function tellReady(): void {
  const fd = Number(process.env.BPFTIME_READY_FD);
  delete process.env.BPFTIME_READY_FD;
  if (!Number.isInteger(fd) || fd < 0) return;
  try {
    fs.writeSync(fd, 'r');
    fs.closeSync(fd);
  } catch {
    // whoever started us gave up waiting: nothing to tell
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--runtime-dir');
  const dir = i >= 0 ? args[i + 1] : defaultRuntimeDir();
  const idle = Number(process.env.BPFTIME_IDLE_TIMEOUT_MS ?? 10000);
  if (!runServer(dir, idle)) process.exit(0);
}
