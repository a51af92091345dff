// Entry point of the syscall server process. The shim starts it with --daemon when a tool
// makes its first call and none runs; `bpftime serve` runs it in the foreground.
import { Server } from './server';
import { log } from './log';
import { defaultRuntimeDir } from '../cli/runtime';

export function runServer(runtimeDir: string, idleMs: number): Server | null {
  const server = new Server({ runtimeDir, idleMs });
  if (!server.start()) {
    log(`another server already runs in ${runtimeDir}`);
    return null;
  }
  const bye = () => {
    server.stop();
    process.exit(0);
  };
  process.on('SIGINT', bye);
  process.on('SIGTERM', bye);
  return server;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--runtime-dir');
  const dir = i >= 0 ? args[i + 1] : defaultRuntimeDir();
  const idle = Number(process.env.BPFTIME_IDLE_TIMEOUT_MS ?? 10000);
  if (!runServer(dir, idle)) process.exit(0);
}
