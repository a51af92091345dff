// Where the server lives. Must agree with bpftime_runtime_dir() in src-native/core/ipc/client.c:
// $BPFTIME_RUNTIME_DIR, else $XDG_RUNTIME_DIR/bpftime, else /tmp/bpftime-<uid>.
import * as path from 'path';

export function defaultRuntimeDir(): string {
  if (process.env.BPFTIME_RUNTIME_DIR) return process.env.BPFTIME_RUNTIME_DIR;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'bpftime');
  return `/tmp/bpftime-${process.getuid?.() ?? 0}`;
}
