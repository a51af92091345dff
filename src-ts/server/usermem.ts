// The caller's memory, as far as the server may see it: copies the shim sent with the call
// ("blobs", tagged by the address they came from). The server never reads another process's
// memory; when a handler needs memory it was not sent, it throws NeedMemory, the shim reads that
// memory and calls again. Handlers therefore read all their input before they change anything.
import { Blob, MemNeed, MemWrite } from './protocol';
import { Errno, KernelError } from '../kernel/errno';

/** Not an error but a question for the shim, thrown on every call that needs more memory: made
 * without a stack trace, which would cost more than the rest of the round trip. */
export class NeedMemory extends Error {
  readonly needs: MemNeed[];
  constructor(needs: MemNeed[]) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('need user memory');
    Error.stackTraceLimit = limit;
    this.needs = needs;
  }
}

export class UserMemory {
  readonly writes: MemWrite[] = [];

  constructor(private readonly blobs: Blob[]) {}

  private find(addr: bigint, len: number): { blob: Blob; off: number } | 'unreadable' | null {
    for (const b of this.blobs) {
      if (addr >= b.addr && addr + BigInt(len) <= b.addr + BigInt(b.len)) {
        if (b.data.length === 0 && b.len > 0) return 'unreadable';
        return { blob: b, off: Number(addr - b.addr) };
      }
      if (addr === b.addr && b.data.length === 0 && b.len > 0) return 'unreadable';
    }
    return null;
  }

  /** Declares everything a handler will read, so that one round trip fetches it all. */
  require(ranges: Array<{ addr: bigint; len: number; string?: boolean }>): void {
    const needs: MemNeed[] = [];
    for (const r of ranges) {
      if (r.addr === 0n) continue; // NULL: the handler decides (usually EFAULT or "absent")
      if (r.string) {
        if (!this.blobs.some((b) => b.addr === r.addr)) needs.push({ addr: r.addr, len: r.len, string: true });
      } else if (r.len > 0 && this.find(r.addr, r.len) === null) {
        needs.push({ addr: r.addr, len: r.len, string: false });
      }
    }
    if (needs.length) throw new NeedMemory(needs);
  }

  /** Reads len bytes at addr: EFAULT for NULL or unreadable memory. */
  read(addr: bigint, len: number): Buffer {
    if (len === 0) return Buffer.alloc(0);
    if (addr === 0n) throw new KernelError(Errno.EFAULT, 'NULL pointer');
    const hit = this.find(addr, len);
    if (hit === null) throw new NeedMemory([{ addr, len, string: false }]);
    if (hit === 'unreadable') throw new KernelError(Errno.EFAULT, `unreadable memory at 0x${addr.toString(16)}`);
    return hit.blob.data.subarray(hit.off, hit.off + len);
  }

  /** Reads a NUL-terminated string of at most max bytes (including the NUL). */
  readString(addr: bigint, max: number): string {
    if (addr === 0n) throw new KernelError(Errno.EFAULT, 'NULL string pointer');
    const b = this.blobs.find((x) => x.addr === addr);
    if (!b) throw new NeedMemory([{ addr, len: max, string: true }]);
    if (b.data.length === 0 && b.len > 0) throw new KernelError(Errno.EFAULT, 'unreadable string');
    const z = b.data.indexOf(0);
    if (z < 0) {
      if (b.data.length >= max) throw new KernelError(Errno.E2BIG, 'string too long');
      throw new KernelError(Errno.EFAULT, 'unterminated string');
    }
    return b.data.subarray(0, z).toString('utf8');
  }

  /** Queues a line for the caller's stderr (the shim prints it unless BPFTIME_NO_HINTS is set). */
  notice(text: string): void {
    this.writes.push({ addr: 0n, data: Buffer.from(text), notice: true });
  }

  /** Queues a write of data at addr, done by the shim after the answer. */
  write(addr: bigint, data: Buffer): void {
    if (addr === 0n) throw new KernelError(Errno.EFAULT, 'NULL output pointer');
    this.writes.push({ addr, data: Buffer.from(data) });
  }
}
