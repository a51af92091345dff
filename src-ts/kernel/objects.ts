// The kernel object model: every object a tool can hold (map, program, link, perf event, BTF).
//
// Each object is backed by a memfd whose first page is struct bpftime_obj_hdr (objfile.h); that
// memfd is what the tool receives as its fd and what agents map. Objects are reference counted
// the way the kernel counts them: a tool process holding an fd, a pin, a link or a program that
// uses a map all hold a reference; the last release destroys the object and frees its id.
import { addon } from '../native/addon';
import { Errno, KernelError } from './errno';

export enum ObjKind {
  Map = 1,
  Prog = 2,
  Link = 3,
  PerfEvent = 4,
  Btf = 5,
}

export const OBJ_MAGIC = 0x4f544642;
export const OBJ_VERSION = 1;
export const OBJ_HDR_SIZE = 4096;

/** Kernel-style id allocation: cyclic, starting at 1, never reusing a live id. */
export class IdAllocator {
  private next = 1;
  private readonly live = new Set<number>();
  alloc(): number {
    while (this.live.has(this.next)) this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    const id = this.next;
    this.live.add(id);
    this.next = this.next >= 0x7fffffff ? 1 : this.next + 1;
    return id;
  }
  free(id: number): void {
    this.live.delete(id);
  }
}

export abstract class BpfObject {
  readonly fd: number; // the server's own fd on the memfd
  readonly ino: bigint;
  private refs = 0;
  destroyed = false;
  /** Run when the object is destroyed, after its own cleanup (for state kept beside it). */
  readonly onDestroyHooks: Array<() => void> = [];
  /** Set by Registry.add: the registry forgets the object when it is destroyed. */
  registry?: { remove(o: BpfObject): void };

  constructor(
    readonly kind: ObjKind,
    readonly id: number,
    readonly subtype: number,
    readonly name: string,
    payload: Buffer | number,
  ) {
    const payloadSize = typeof payload === 'number' ? payload : payload.length;
    const label = `bpftime-${ObjKind[kind].toLowerCase()}:${name || id}`;
    const fd = addon.memfdCreate(label, OBJ_HDR_SIZE + payloadSize);
    if (fd < 0) throw new KernelError(-fd, `memfd_create failed: errno ${-fd}`);
    this.fd = fd;
    const st = addon.fstatIno(fd);
    this.ino = st.ino;
    const hdr = Buffer.alloc(64);
    hdr.writeUInt32LE(OBJ_MAGIC, 0);
    hdr.writeUInt32LE(OBJ_VERSION, 4);
    hdr.writeUInt32LE(kind, 8);
    hdr.writeUInt32LE(id, 12);
    hdr.writeBigUInt64LE(BigInt(payloadSize), 16);
    hdr.writeUInt32LE(subtype, 24);
    hdr.writeUInt32LE(process.pid, 28);
    Buffer.from(name).copy(hdr, 32, 0, 15);
    require('fs').writeSync(fd, hdr, 0, hdr.length, 0);
    if (typeof payload !== 'number' && payload.length) {
      require('fs').writeSync(fd, payload, 0, payload.length, OBJ_HDR_SIZE);
    }
  }

  get refcount(): number {
    return this.refs;
  }

  acquire(): this {
    if (this.destroyed) throw new KernelError(Errno.ENOENT, `${ObjKind[this.kind]} ${this.id} is gone`);
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs > 0 || this.destroyed) return;
    this.destroyed = true;
    this.onDestroy();
    for (const h of this.onDestroyHooks.splice(0)) h();
    this.registry?.remove(this);
    addon.closeFd(this.fd);
  }

  /** Drops what this object itself holds (a program its maps, a link its program...). */
  protected abstract onDestroy(): void;

  /** A line for `bpftime status`. */
  abstract describe(): Record<string, unknown>;
}
