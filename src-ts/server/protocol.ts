// The control-plane protocol, TypeScript side. The C side is src-native/include/bpftime/proto.h;
// test/unit/protocol.test.ts checks that the numbers here match it.
import type { TaskLayout } from '../btf/task_layout';

export const PROTO_MAGIC = 0x50544642;
export const PROTO_VERSION = 1;
export const FRAME_HEADER_SIZE = 16;
export const MAX_FRAME = 64 << 20;

export enum Msg {
  Hello = 1,
  Call = 2,
  Release = 3,
  Status = 4,
  AttachResult = 5,
  Trace = 6,
  DetachProcess = 7,
  Cancel = 8,
  Ping = 9,
  HelloReply = 64,
  Reply = 65,
  StatusReply = 66,
  Attach = 67,
  Detach = 68,
  PerfSlot = 69,
  TaskLayout = 70,
  DetachProcessReply = 71,
  AgentQuit = 72,
  Prog = 73,
  PingReply = 74,
}

/** The shim's private ioctl on a perf event fd or a ring buffer map fd: "give me the fd to wait
 * on" (proto.h). */
export const IOC_WAIT_FD = 0x24f0;

export enum Role {
  Tool = 1,
  Agent = 2,
  Cli = 3,
}

export enum CallOp {
  Bpf = 1,
  PerfEventOpen = 2,
  Ioctl = 3,
  Open = 4,
  Access = 5,
  Write = 6,
  Bpffs = 16,
}

export const BLOB_STRING = 1;
export const BLOB_UNREADABLE = 2;
export const BLOB_NOTICE = 4;

export enum AttachKind {
  Uprobe = 1,
  Uretprobe = 2,
  SyscallTracepoint = 3,
  Timer = 4,
  SyscallKprobe = 5,
  SyscallKretprobe = 6,
  SyscallFentry = 7,
  SyscallFexit = 8,
}

// Sizes of the fixed parts (proto.h).
export const SIZEOF = {
  hello: 32,
  hello_reply: 8,
  call: 64,
  blob: 16,
  fdref: 16,
  reply: 24,
  release: 8,
  attach: 56,
  detach: 8,
  attach_result: 8,
  trace: 32,
  perf_slot: 20,
  detach_process: 8,
  task_layout: 80,
  prog_push: 16,
} as const;

export interface Frame {
  type: number;
  seq: number;
  payload: Buffer;
  fds: number[];
}

export function encodeFrame(type: number, seq: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  f.writeUInt32LE(PROTO_MAGIC, 0);
  f.writeUInt16LE(type, 4);
  f.writeUInt16LE(0, 6); // nfds is set by the sender, which knows what it passes
  f.writeUInt32LE(payload.length, 8);
  f.writeUInt32LE(seq >>> 0, 12);
  payload.copy(f, FRAME_HEADER_SIZE);
  return f;
}

export function pad8(n: number): number {
  return (n + 7) & ~7;
}

/** Reassembles frames from a byte stream; fds received with any bytes belong to the next frame
 * header, which is where senders attach them. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private pendingFds: number[] = [];

  push(data: Buffer, fds: number[]): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    this.pendingFds.push(...fds);
  }

  /** Returns the next whole frame, or null; throws on a malformed stream. */
  next(): Frame | null {
    if (this.buf.length < FRAME_HEADER_SIZE) return null;
    const magic = this.buf.readUInt32LE(0);
    if (magic !== PROTO_MAGIC) throw new Error(`bad frame magic 0x${magic.toString(16)}`);
    const type = this.buf.readUInt16LE(4);
    const nfds = this.buf.readUInt16LE(6);
    const len = this.buf.readUInt32LE(8);
    const seq = this.buf.readUInt32LE(12);
    if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes is too large`);
    if (this.buf.length < FRAME_HEADER_SIZE + len) return null;
    const payload = this.buf.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + len);
    this.buf = this.buf.subarray(FRAME_HEADER_SIZE + len);
    const fds = this.pendingFds.splice(0, nfds);
    return { type, seq, payload: Buffer.from(payload), fds };
  }

  /** fds that arrived without a frame to claim them (closed by the owner on disconnect). */
  strayFds(): number[] {
    return this.pendingFds.splice(0);
  }
}

export interface Blob {
  addr: bigint;
  flags: number;
  data: Buffer; // empty when unreadable
  len: number;
}

export interface FdRef {
  fd: number;
  kind: number;
  ino: bigint;
}

export interface Call {
  op: number;
  args: bigint[];
  blobs: Blob[];
  fdrefs: FdRef[];
}

export function decodeCall(p: Buffer): Call {
  const op = p.readUInt32LE(0);
  const nblobs = p.readUInt32LE(4);
  const nfdrefs = p.readUInt32LE(8);
  const args: bigint[] = [];
  for (let i = 0; i < 6; i++) args.push(p.readBigUInt64LE(16 + i * 8));
  let off = SIZEOF.call;
  const blobs: Blob[] = [];
  for (let i = 0; i < nblobs; i++) {
    const addr = p.readBigUInt64LE(off);
    const len = p.readUInt32LE(off + 8);
    const flags = p.readUInt32LE(off + 12);
    off += SIZEOF.blob;
    if (flags & BLOB_UNREADABLE) {
      blobs.push({ addr, flags, data: Buffer.alloc(0), len });
    } else {
      blobs.push({ addr, flags, data: Buffer.from(p.subarray(off, off + len)), len });
      off += pad8(len);
    }
  }
  const fdrefs: FdRef[] = [];
  for (let i = 0; i < nfdrefs; i++) {
    fdrefs.push({ fd: p.readInt32LE(off), kind: p.readUInt32LE(off + 4), ino: p.readBigUInt64LE(off + 8) });
    off += SIZEOF.fdref;
  }
  return { op, args, blobs, fdrefs };
}

export interface MemWrite {
  addr: bigint;
  data: Buffer;
  /** A line the shim prints on the tool's stderr instead of a write to its memory. */
  notice?: boolean;
}

export interface MemNeed {
  addr: bigint;
  len: number;
  string: boolean;
}

export interface ReplyFields {
  ret: bigint;
  err: number;
  retFdIdx: number;
  writes: MemWrite[];
  needs: MemNeed[];
}

/** One buffer, sized first: a reply is built on every call. */
export function encodeReply(r: ReplyFields): Buffer {
  let size = SIZEOF.reply + r.needs.length * SIZEOF.blob;
  for (const w of r.writes) size += SIZEOF.blob + pad8(w.data.length);
  const b = Buffer.alloc(size);
  b.writeBigInt64LE(r.ret, 0);
  b.writeInt32LE(r.err, 8);
  b.writeInt32LE(r.retFdIdx, 12);
  b.writeUInt32LE(r.writes.length, 16);
  b.writeUInt32LE(r.needs.length, 20);
  let off = SIZEOF.reply;
  for (const w of r.writes) {
    b.writeBigUInt64LE(w.addr, off);
    b.writeUInt32LE(w.data.length, off + 8);
    b.writeUInt32LE(w.notice ? BLOB_NOTICE : 0, off + 12);
    w.data.copy(b, off + SIZEOF.blob);
    off += SIZEOF.blob + pad8(w.data.length);
  }
  for (const n of r.needs) {
    b.writeBigUInt64LE(n.addr, off);
    b.writeUInt32LE(n.len, off + 8);
    b.writeUInt32LE(n.string ? BLOB_STRING : 0, off + 12);
    off += SIZEOF.blob;
  }
  return b;
}

export interface Hello {
  role: number;
  version: number;
  pid: number;
  comm: string;
  heldInos: bigint[];
  exe: string;
}

export function decodeHello(p: Buffer): Hello {
  const role = p.readUInt32LE(0);
  const version = p.readUInt32LE(4);
  const pid = p.readUInt32LE(8);
  const nHeld = p.readUInt32LE(12);
  const comm = cstr(p.subarray(16, 32));
  const heldInos: bigint[] = [];
  let off = SIZEOF.hello;
  for (let i = 0; i < nHeld; i++, off += 8) heldInos.push(p.readBigUInt64LE(off));
  const exe = cstr(p.subarray(off));
  return { role, version, pid, comm, heldInos, exe };
}

export function encodeHelloReply(status: number, serverPid: number): Buffer {
  const b = Buffer.alloc(SIZEOF.hello_reply);
  b.writeInt32LE(status, 0);
  b.writeUInt32LE(serverPid, 4);
  return b;
}

export interface AttachMsg {
  attachId: number;
  kind: AttachKind;
  offset: bigint;
  refCtrOffset: bigint;
  cookie: bigint;
  pid: number;
  progId: number;
  path: string;
  tpId: number;
  mapIds: number[];
  /** Ring buffer maps among mapIds; their eventfds travel after the map memfds, in this order. */
  wakeMapIds: number[];
}

export function encodeAttach(a: AttachMsg): Buffer {
  const path = Buffer.from(a.path + '\0');
  const h = Buffer.alloc(SIZEOF.attach);
  h.writeUInt32LE(a.attachId, 0);
  h.writeUInt32LE(a.kind, 4);
  h.writeBigUInt64LE(a.offset, 8);
  h.writeBigUInt64LE(a.refCtrOffset, 16);
  h.writeBigUInt64LE(a.cookie, 24);
  h.writeInt32LE(a.pid, 32);
  h.writeUInt32LE(a.progId, 36);
  h.writeUInt32LE(a.mapIds.length, 40);
  h.writeUInt32LE(path.length, 44);
  h.writeUInt32LE(a.tpId, 48);
  h.writeUInt32LE(a.wakeMapIds.length, 52);
  const ids = Buffer.alloc(4 * (a.mapIds.length + a.wakeMapIds.length));
  [...a.mapIds, ...a.wakeMapIds].forEach((id, i) => ids.writeUInt32LE(id, i * 4));
  return Buffer.concat([h, path, Buffer.alloc(pad8(path.length) - path.length), ids]);
}

/** struct bpftime_prog_push + map ids + wake ids (proto.h). */
export function encodeProgPush(pushId: number, progId: number, mapIds: number[], wakeMapIds: number[]): Buffer {
  const b = Buffer.alloc(SIZEOF.prog_push + 4 * (mapIds.length + wakeMapIds.length));
  b.writeUInt32LE(pushId, 0);
  b.writeUInt32LE(progId, 4);
  b.writeUInt32LE(mapIds.length, 8);
  b.writeUInt32LE(wakeMapIds.length, 12);
  [...mapIds, ...wakeMapIds].forEach((id, i) => b.writeUInt32LE(id, SIZEOF.prog_push + 4 * i));
  return b;
}

/** struct bpftime_perf_slot; pushId non-zero: the agent answers with an ATTACH_RESULT of that id
 * once the slot is in its table. */
export function encodePerfSlot(mapId: number, index: number, eventId: number, present: boolean, pushId = 0): Buffer {
  const b = Buffer.alloc(SIZEOF.perf_slot);
  b.writeUInt32LE(mapId, 0);
  b.writeUInt32LE(index, 4);
  b.writeUInt32LE(eventId, 8);
  b.writeUInt32LE(present ? 1 : 0, 12);
  b.writeUInt32LE(pushId, 16);
  return b;
}

/** struct bpftime_task_layout, field by field in order (each 4 bytes), with the TaskLayout
 * property each carries; `null` is the trailing reserved word. */
export const TASK_LAYOUT_FIELDS: ReadonlyArray<readonly [string, keyof TaskLayout | null]> = [
  ['task_size', 'taskSize'],
  ['cred_size', 'credSize'],
  ['pid', 'pid'],
  ['tgid', 'tgid'],
  ['real_parent', 'realParent'],
  ['parent', 'parent'],
  ['group_leader', 'groupLeader'],
  ['comm', 'comm'],
  ['comm_len', 'commLen'],
  ['flags', 'flags'],
  ['start_time', 'startTime'],
  ['start_boottime', 'startBoottime'],
  ['exit_code', 'exitCode'],
  ['real_cred', 'realCred'],
  ['cred', 'cred'],
  ['cred_uid', 'credUid'],
  ['cred_gid', 'credGid'],
  ['cred_euid', 'credEuid'],
  ['cred_egid', 'credEgid'],
  ['reserved', null],
];

/** The task_struct layout message; null (no kernel BTF) says "no stand-ins": task_size 0 and
 * every offset -1. */
export function encodeTaskLayout(l: TaskLayout | null): Buffer {
  const b = Buffer.alloc(SIZEOF.task_layout);
  TASK_LAYOUT_FIELDS.forEach(([, key], i) => {
    const v = key === null ? 0 : l ? l[key] : key === 'taskSize' || key === 'credSize' || key === 'commLen' ? 0 : -1;
    b.writeInt32LE(v, i * 4);
  });
  return b;
}

/** struct bpftime_detach_process: `bpftime detach PID` (status 0) and its reply (agents that quit,
 * or -errno). */
export function encodeDetachProcess(pid: number, status = 0): Buffer {
  const b = Buffer.alloc(SIZEOF.detach_process);
  b.writeUInt32LE(pid, 0);
  b.writeInt32LE(status, 4);
  return b;
}

export function decodeDetachProcess(p: Buffer): { pid: number; status: number } {
  return { pid: p.readUInt32LE(0), status: p.readInt32LE(4) };
}

export function encodeDetach(attachId: number): Buffer {
  const b = Buffer.alloc(SIZEOF.detach);
  b.writeUInt32LE(attachId, 0);
  return b;
}

export function decodeAttachResult(p: Buffer): { attachId: number; status: number; message: string } {
  return { attachId: p.readUInt32LE(0), status: p.readInt32LE(4), message: cstr(p.subarray(SIZEOF.attach_result)) };
}

export interface TraceLine {
  pid: number;
  cpu: number;
  tsNs: bigint;
  comm: string;
  text: string;
}

export function decodeTrace(p: Buffer): TraceLine {
  return {
    pid: p.readUInt32LE(0),
    cpu: p.readUInt32LE(4),
    tsNs: p.readBigUInt64LE(8),
    comm: cstr(p.subarray(16, 32)),
    text: p.subarray(SIZEOF.trace).toString('utf8'),
  };
}

export function cstr(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}
