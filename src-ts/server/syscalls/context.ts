// What one intercepted syscall sees while the server plays the kernel for it: the caller's
// memory (as far as it was sent), the caller's object fds, and the fds the answer will carry.
import * as fs from 'fs';
import { Call, FdRef } from '../protocol';
import { UserMemory } from '../usermem';
import { Client } from '../client';
import { Kernel } from '../kernel';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { Errno, KernelError } from '../../kernel/errno';

/** A field of a kernel struct as the generated uapi layouts describe it. */
export interface Field {
  off: number;
  size: number;
}

/** A kernel struct copied in from user memory, read through the uapi layouts. */
export class Struct {
  constructor(readonly buf: Buffer) {}
  private get(f: Field): Buffer {
    // Fields beyond what the caller passed read as zero, as the kernel's copy of a short attr.
    const b = Buffer.alloc(f.size);
    if (f.off < this.buf.length) this.buf.copy(b, 0, f.off, Math.min(this.buf.length, f.off + f.size));
    return b;
  }
  // Fields the caller passed are read in place (handlers read attrs and arrays of structs field
  // by field, so this is hot); only a field cut short by the end goes through get().
  u32(f: Field): number {
    return f.off + 4 <= this.buf.length ? this.buf.readUInt32LE(f.off) : this.get(f).readUInt32LE(0);
  }
  s32(f: Field): number {
    return f.off + 4 <= this.buf.length ? this.buf.readInt32LE(f.off) : this.get(f).readInt32LE(0);
  }
  u64(f: Field): bigint {
    return f.off + 8 <= this.buf.length ? this.buf.readBigUInt64LE(f.off) : this.get(f).readBigUInt64LE(0);
  }
  bytes(f: Field): Buffer {
    return this.get(f);
  }
  str(f: Field): string {
    const b = this.get(f);
    const z = b.indexOf(0);
    return b.subarray(0, z < 0 ? b.length : z).toString('latin1');
  }
}

export class CallContext {
  readonly mem: UserMemory;
  private readonly fds = new Map<number, FdRef>();
  readonly passFds: number[] = [];
  /** Server-side fds made for this call only (served files): closed once the answer is sent. */
  readonly ownedFds: number[] = [];
  retFdIdx = -1;
  /** Set while the call waits for something it can stop (a test run): how to stop it when the
   * caller is interrupted by a signal (CANCEL) or goes away. */
  onCancel: (() => void) | null = null;

  cancel(): void {
    const f = this.onCancel;
    this.onCancel = null;
    f?.();
  }

  constructor(
    readonly kernel: Kernel,
    readonly client: Client,
    readonly call: Call,
  ) {
    this.mem = new UserMemory(call.blobs);
    for (const r of call.fdrefs) this.fds.set(r.fd, r);
  }

  /** The object behind one of the caller's fds: EBADF when the fd is not one of ours
   * (closed, never opened, or not a bpf object at all). */
  object(fd: number): BpfObject {
    const ref = this.fds.get(fd);
    const o = ref ? this.kernel.registry.byInode(ref.ino) : undefined;
    if (!o || o.destroyed) throw new KernelError(Errno.EBADF, `fd ${fd} is not a bpf object`);
    return o;
  }

  /** The object behind fd, which must be of the given kind (EINVAL otherwise, as the kernel). */
  objectOf<T extends BpfObject>(fd: number, kind: ObjKind, what: string): T {
    const o = this.object(fd);
    if (o.kind !== kind) throw new KernelError(Errno.EINVAL, `fd ${fd} is not ${what}`);
    return o as T;
  }

  /** Makes a file the server opened for this call the return value (a new fd in the caller). */
  returnOwnedFd(fd: number): bigint {
    this.ownedFds.push(fd);
    this.passFds.push(fd);
    this.retFdIdx = this.passFds.length - 1;
    return 0n;
  }

  /** Makes o the call's return value as a new fd in the caller; returns the placeholder 0.
   * access: the open file's mode (O_RDONLY/O_WRONLY for maps opened with BPF_F_RDONLY/WRONLY):
   * such an fd is a new open of the object's memfd with that mode, so the mode is the fd's own,
   * as the kernel's f_mode (F_GETFL, dup, fork and SCM_RIGHTS keep it). */
  returnFd(o: BpfObject, access: number = fs.constants.O_RDWR): bigint {
    let fd = o.fd;
    if (access !== fs.constants.O_RDWR) {
      fd = fs.openSync(`/proc/self/fd/${o.fd}`, access);
      this.ownedFds.push(fd);
    }
    this.client.hold(o);
    this.passFds.push(fd);
    this.retFdIdx = this.passFds.length - 1;
    return 0n;
  }
}
