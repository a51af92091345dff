// The served trace_pipe: bpf_trace_printk() output from every agent, in the kernel's line
// format ("<comm>-<pid> [<cpu>] <flags> <secs>.<usecs>: bpf_trace_printk: <text>"). Each reader
// gets a pipe; lines written while nobody reads are kept (up to a bound) for the next reader,
// as the kernel's trace buffer keeps them.
import * as fs from 'fs';
import { addon } from '../native/addon';
import { TraceLine } from '../server/protocol';

const KEEP = 4096;

export class TracePipe {
  private readonly writers = new Set<number>();
  private pending: string[] = [];

  static format(l: TraceLine): string {
    const secs = l.tsNs / 1000000000n;
    const usecs = (l.tsNs % 1000000000n) / 1000n;
    const task = `${l.comm}-${l.pid}`.padStart(22);
    const text = l.text.endsWith('\n') ? l.text : l.text + '\n';
    return `${task} [${String(l.cpu).padStart(3, '0')}] d..31 ${String(secs).padStart(5)}.${String(usecs).padStart(6, '0')}: bpf_trace_printk: ${text}`;
  }

  /** A new reader: returns the read end of its pipe (the caller passes it on and closes it). */
  open(): number {
    const [r, w] = addon.pipe() as [number, number];
    if (r < 0) throw new Error(`pipe failed: errno ${-r}`);
    this.writers.add(w);
    const backlog = this.pending.splice(0);
    for (const line of backlog) this.writeTo(w, line);
    return r;
  }

  push(l: TraceLine): void {
    const line = TracePipe.format(l);
    if (this.writers.size === 0) {
      this.pending.push(line);
      if (this.pending.length > KEEP) this.pending.shift();
      return;
    }
    for (const w of [...this.writers]) this.writeTo(w, line);
  }

  private writeTo(w: number, line: string): void {
    try {
      fs.writeSync(w, line);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return; // a reader that does not keep up loses lines, as on a kernel
      this.writers.delete(w); // EPIPE: the reader closed it
      addon.closeFd(w);
    }
  }
}
