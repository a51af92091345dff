// The server's log: stderr, which is <runtime dir>/server.log for the embedded server and the
// terminal for `bpftime serve`.
let quiet = false;

export function setQuiet(q: boolean): void {
  quiet = q;
}

export function log(msg: string): void {
  if (!quiet) process.stderr.write(`[bpftime ${new Date().toISOString()}] ${msg}\n`);
}
