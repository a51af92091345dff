// One connected process: a shimmed tool, an agent in a traced process, or the CLI.
// Owns the socket, reassembles frames, and holds one reference on every object the process has
// an fd for; when the process goes (exit, crash, SIGKILL: the socket closes), they are released.
import { addon } from '../native/addon';
import { BpfObject } from '../kernel/objects';
import { Frame, FrameReader, encodeFrame, Role } from './protocol';
import type { CallContext } from './syscalls/context';

/** Bytes asked of the socket per read: a whole call or reply fits, large frames take a few reads. */
const RECV_CHUNK = 256 << 10;

export class Client {
  role: Role | 0 = 0;
  pid: number;
  comm = '';
  exe = '';
  readonly held = new Map<bigint, BpfObject>();
  /** Calls whose answer is not sent yet (test runs), by the sequence number of their CALL. */
  readonly pendingCalls = new Map<number, CallContext>();
  private readonly reader = new FrameReader();
  closed = false;
  /** Another user's process, let in by --agents-from-any-uid: an agent and nothing else. */
  foreign = false;
  /** Told once that its probes wait for a traced process (server.ts). */
  hintedNoAgent = false;
  readonly connectedAt = Date.now();

  constructor(
    readonly fd: number,
    readonly peerPid: number,
    readonly uid: number,
  ) {
    this.pid = peerPid;
  }

  /** Reads what the socket has; returns complete frames, or null at EOF/error. */
  receive(): Frame[] | null {
    const frames: Frame[] = [];
    for (;;) {
      const r = addon.recv(this.fd, RECV_CHUNK);
      if (r === null) break; // drained
      if (typeof r === 'number' || r.data.length === 0) {
        for (const fd of r.fds ?? []) addon.closeFd(fd);
        return null;
      }
      this.reader.push(r.data, r.fds);
      for (let f = this.reader.next(); f; f = this.reader.next()) frames.push(f);
      // A short read without fds took all there was (see the addon's recv): no need to ask
      // again just to hear EAGAIN. Anything that arrives later makes the socket readable again.
      if (r.data.length < RECV_CHUNK && r.fds.length === 0) break;
    }
    return frames;
  }

  send(type: number, seq: number, payload: Buffer, fds: number[] = []): boolean {
    if (this.closed) return false;
    const frame = encodeFrame(type, seq, payload);
    frame.writeUInt16LE(fds.length, 6);
    return addon.send(this.fd, frame, fds, 2000) === 0;
  }

  hold(o: BpfObject): void {
    if (!this.held.has(o.ino)) this.held.set(o.ino, o.acquire());
  }

  releaseIno(ino: bigint): void {
    const o = this.held.get(ino);
    if (o) {
      this.held.delete(ino);
      o.release();
    }
  }

  releaseAll(): void {
    for (const fd of this.reader.strayFds()) addon.closeFd(fd);
    const objs = [...this.held.values()];
    this.held.clear();
    // Links first, so hooks are taken off before the programs and maps they use go.
    objs.sort((a, b) => b.kind - a.kind);
    for (const o of objs) o.release();
  }
}
