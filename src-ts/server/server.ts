// The syscall server: accepts shims, agents and the CLI on a Unix socket, plays the kernel for
// their calls, and exits when idle. Single-threaded on Node's event loop; socket readiness comes
// from libuv through the addon, so nothing here sleeps or polls.
import * as fs from 'fs';
import * as path from 'path';
import { addon } from '../native/addon';
import { Client } from './client';
import { Kernel } from './kernel';
import { log } from './log';
import { CallContext } from './syscalls/context';
import { sysBpf } from './syscalls/bpf';
import { sysIoctl, sysPerfEventOpen } from './syscalls/perf';
import { sysAccess, sysOpen, sysWrite } from './syscalls/files';
import { sysBpffs } from './syscalls/obj_pin';
import { NeedMemory } from './usermem';
import { ProcessDetach } from './detach_process';
import { KernelError, Errno } from '../kernel/errno';
import { ObjKind } from '../kernel/objects';
import {
  CallOp,
  Frame,
  Msg,
  PROTO_VERSION,
  Role,
  decodeAttachResult,
  decodeCall,
  decodeHello,
  decodeTrace,
  encodeHelloReply,
  encodeReply,
} from './protocol';

export interface ServerOptions {
  runtimeDir: string;
  /** Exit after this long without any client (0: never). */
  idleMs: number;
  /** Agents of processes of any user may connect (daemons that drop root: postgres, nginx...);
   * such a connection may only be an agent (no bpf() calls, no status), with the pid the
   * kernel vouches for. Off: only the server's own uid and root. */
  agentsFromAnyUid?: boolean;
}

export class Server {
  readonly kernel = new Kernel();
  readonly processDetach = new ProcessDetach();
  readonly clients = new Set<Client>();
  private listenFd = -1;
  private lockFd = -1;
  private idleTimer: NodeJS.Timeout | null = null;
  readonly startedAt = Date.now();

  constructor(readonly opts: ServerOptions) {
    this.kernel.attachments.taskLayout = () => this.kernel.taskLayout();
  }

  get socketPath(): string {
    return path.join(this.opts.runtimeDir, 'server.sock');
  }

  /** Takes the runtime dir's lock and listens; false when another server already runs there. */
  start(): boolean {
    fs.mkdirSync(this.opts.runtimeDir, { recursive: true, mode: 0o700 });
    this.lockFd = addon.lockFile(path.join(this.opts.runtimeDir, 'server.lock'));
    if (this.lockFd < 0) return false;
    try {
      fs.unlinkSync(this.socketPath); // stale: whoever bound it no longer holds the lock
    } catch {
      /* none */
    }
    const fd = addon.listenUnix(this.socketPath);
    if (fd < 0) throw new Error(`cannot listen on ${this.socketPath}: errno ${-fd}`);
    this.listenFd = fd;
    if (this.opts.agentsFromAnyUid) {
      // Others may reach the socket (search, not list, the directory; connect needs write).
      fs.chmodSync(this.opts.runtimeDir, 0o711);
      fs.chmodSync(this.socketPath, 0o666);
    }
    addon.watch(fd, () => this.acceptAll());
    fs.writeFileSync(path.join(this.opts.runtimeDir, 'server.pid'), `${process.pid}\n`);
    this.kernel.bpffs.viewRoot = path.join(this.opts.runtimeDir, 'bpffs-views');
    log(`serving on ${this.socketPath} (pid ${process.pid})`);
    this.armIdle();
    return true;
  }

  stop(): void {
    for (const c of [...this.clients]) this.disconnect(c);
    if (this.listenFd >= 0) {
      addon.unwatch(this.listenFd);
      addon.closeFd(this.listenFd);
      this.listenFd = -1;
      try {
        fs.unlinkSync(this.socketPath);
      } catch {
        /* gone */
      }
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.lockFd >= 0) addon.closeFd(this.lockFd);
  }

  private armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    // Pinned objects live until they are unpinned, as on a kernel: a server holding pins stays.
    const idle = () => this.clients.size === 0 && this.kernel.bpffs.pinCount === 0;
    if (this.opts.idleMs > 0 && idle()) {
      this.idleTimer = setTimeout(() => {
        if (idle()) {
          log('idle: exiting');
          this.stop();
          process.exit(0);
        }
      }, this.opts.idleMs);
    }
  }

  private acceptAll(): void {
    for (;;) {
      const a = addon.accept(this.listenFd);
      if (a === null || typeof a === 'number') return;
      const myUid = process.getuid?.() ?? 0;
      const foreign = a.uid !== myUid && a.uid !== 0;
      if (foreign && !this.opts.agentsFromAnyUid) {
        log(`refused a connection from uid ${a.uid} (pid ${a.pid}): only uid ${myUid} and root may connect ` +
          '(bpftime serve --agents-from-any-uid lets traced processes of other users in)');
        addon.closeFd(a.fd);
        continue;
      }
      const c = new Client(a.fd, a.pid, a.uid);
      c.foreign = foreign;
      this.clients.add(c);
      this.armIdle();
      addon.watch(c.fd, () => this.onReadable(c));
    }
  }

  private onReadable(c: Client): void {
    let frames: Frame[] | null;
    try {
      frames = c.receive();
    } catch (e) {
      log(`dropping pid ${c.pid}: ${(e as Error).message}`);
      frames = null;
    }
    if (frames === null) {
      this.disconnect(c);
      return;
    }
    for (const f of frames) {
      try {
        this.handle(c, f);
      } catch (e) {
        log(`internal error handling message ${f.type} from pid ${c.pid}: ${(e as Error).stack}`);
      }
    }
  }

  private disconnect(c: Client): void {
    if (c.closed) return;
    c.closed = true;
    addon.unwatch(c.fd);
    addon.closeFd(c.fd);
    this.clients.delete(c);
    for (const ctx of c.pendingCalls.values()) ctx.cancel(); // nobody waits for these answers
    if (c.role === Role.Agent) this.kernel.attachments.removeAgent(c);
    if (c.role === Role.Agent) this.processDetach.agentGone(c);
    if (c.role !== Role.Agent) this.kernel.bpffs.dropViews(c.pid);
    const n = c.held.size;
    c.releaseAll();
    if (c.role) log(`${Role[c.role].toLowerCase()} ${c.comm}[${c.pid}] went away${n ? `, released ${n} object(s)` : ''}`);
    this.armIdle();
  }

  /** What a connection from another user may send: an agent's messages only. */
  private static readonly FOREIGN_MSGS = new Set<number>([Msg.Hello, Msg.AttachResult, Msg.Trace, Msg.Ping]);

  private handle(c: Client, f: Frame): void {
    if (c.foreign && (!Server.FOREIGN_MSGS.has(f.type) || (f.type !== Msg.Hello && c.role !== Role.Agent) ||
        (f.type === Msg.Hello && decodeHello(f.payload).role !== Role.Agent))) {
      log(`refused pid ${c.peerPid} (uid ${c.uid}): a process of another user may only connect as an agent`);
      // A tool's bpf() calls fail with EPERM, as an unprivileged user's do on a kernel.
      if (f.type === Msg.Hello) c.send(Msg.HelloReply, f.seq, encodeHelloReply(-Errno.EPERM, process.pid));
      for (const fd of f.fds) addon.closeFd(fd);
      this.disconnect(c);
      return;
    }
    switch (f.type) {
      case Msg.Hello: {
        const h = decodeHello(f.payload);
        if (h.version !== PROTO_VERSION) {
          c.send(Msg.HelloReply, f.seq, encodeHelloReply(-Errno.EPROTO, process.pid));
          this.disconnect(c);
          return;
        }
        c.role = h.role;
        // Another user's process gets the pid the kernel gave for it (SO_PEERCRED), not the one
        // it says: programs attached to another process are not handed to it.
        c.pid = c.foreign ? c.peerPid : h.pid || c.peerPid;
        c.comm = h.comm;
        c.exe = h.exe;
        // After fork or exec a process may already hold object fds: count them as its own.
        for (const ino of h.heldInos) {
          const o = this.kernel.registry.byInode(ino);
          if (o && !o.destroyed) c.hold(o);
        }
        // An agent gets the attachments that exist before the reply: it holds the process's
        // start until the reply, so a target started after the tool is traced from the start.
        // The task_struct layout goes before the first program that needs it (Attachments).
        if (c.role === Role.Agent) this.kernel.attachments.addAgent(c);
        c.send(Msg.HelloReply, f.seq, encodeHelloReply(0, process.pid));
        log(`${Role[c.role]?.toLowerCase() ?? 'client'} ${c.comm}[${c.pid}] connected (${c.exe})`);
        break;
      }
      case Msg.Call:
        this.handleCall(c, f);
        break;
      case Msg.Release:
        c.releaseIno(f.payload.readBigUInt64LE(0));
        break;
      case Msg.Status:
        c.send(Msg.StatusReply, f.seq, Buffer.from(JSON.stringify(this.status())));
        break;
      case Msg.AttachResult: {
        const r = decodeAttachResult(f.payload);
        this.kernel.attachments.result(c, r.attachId, r.status, r.message);
        break;
      }
      case Msg.Ping:
        // A shim wakes its reading thread this way (a signal handler on it read the answers).
        c.send(Msg.PingReply, f.seq, Buffer.alloc(0));
        break;
      case Msg.Cancel:
        // The caller was interrupted by a signal while it waited for this call's answer.
        c.pendingCalls.get(f.seq)?.cancel();
        break;
      case Msg.DetachProcess:
        this.processDetach.request(c, f.seq, f.payload, this.clients);
        break;
      case Msg.Trace: {
        const line = decodeTrace(f.payload);
        this.kernel.tracePipe.push(line);
        if (process.env.BPFTIME_DEBUG) log(`trace_printk ${line.comm}[${line.pid}]: ${line.text.trimEnd()}`);
        break;
      }
      default:
        log(`unknown message type ${f.type} from pid ${c.pid}`);
    }
    for (const fd of f.fds) addon.closeFd(fd);
  }

  private handleCall(c: Client, f: Frame): void {
    const call = decodeCall(f.payload);
    const ctx = new CallContext(this.kernel, c, call);
    let out: bigint | Promise<bigint>;
    this.kernel.attachments.beginCollect();
    try {
      out = this.dispatch(ctx);
    } catch (e) {
      this.finishCall(c, f.seq, ctx, 0n, e, this.kernel.attachments.endCollect());
      return;
    }
    const waits = this.kernel.attachments.endCollect();
    this.hintUnreached(c, ctx);
    if (!(out instanceof Promise)) {
      this.finishCall(c, f.seq, ctx, out, undefined, waits);
      return;
    }
    // A call that takes long (a test run): the server goes on serving; this caller's answer
    // goes when it settles. CANCEL (a signal interrupted the caller) or the caller's going
    // away stops it (ctx.cancel).
    c.pendingCalls.set(f.seq, ctx);
    out.then(
      (ret) => this.finishCall(c, f.seq, ctx, ret, undefined, waits),
      (e) => this.finishCall(c, f.seq, ctx, 0n, e, waits),
    );
  }

  /** A tool whose probe no traced process has yet is told, once, how to get one traced (errors
   * and hints speak to the user: without an agent nothing ever fires). */
  private hintUnreached(c: Client, ctx: CallContext): void {
    if (c.hintedNoAgent || c.role !== Role.Tool) return;
    const unreached = this.kernel.attachments.unreachedByLastCall(c.pid);
    if (!unreached.length) return;
    c.hintedNoAgent = true;
    const pid = unreached[0].event.spec.pid;
    ctx.mem.notice(pid > 0
      ? `${c.comm}: process ${pid} has no bpftime agent yet, so its probes do not fire - load one with: bpftime attach ${pid}\n`
      : `${c.comm}: no traced process is running yet - start the target with: bpftime start CMD (or bpftime attach PID); its probes fire from then on\n`);
  }

  private dispatch(ctx: CallContext): bigint | Promise<bigint> {
    const call = ctx.call;
    const a = call.args;
    switch (call.op) {
      case CallOp.Bpf:
        return sysBpf(ctx, Number(a[0]), a[1], Number(a[2] & 0xffffffffn));
      case CallOp.PerfEventOpen:
        return sysPerfEventOpen(ctx, a[0], Number(BigInt.asIntN(32, a[1])), Number(BigInt.asIntN(32, a[2])), Number(BigInt.asIntN(32, a[3])), Number(a[4]));
      case CallOp.Ioctl:
        return sysIoctl(ctx, Number(BigInt.asIntN(32, a[0])), Number(a[1] & 0xffffffffn), a[2]);
      case CallOp.Open:
        return sysOpen(ctx, a[0], Number(a[1] & 0xffffffffn));
      case CallOp.Access:
        return sysAccess(ctx, a[0], Number(a[1] & 0xffffffffn));
      case CallOp.Write:
        return sysWrite(ctx, a[0], a[1], a[2]);
      case CallOp.Bpffs:
        return sysBpffs(ctx, Number(a[0]), a[1], a[2], Number(a[3] & 0xffffffffn), a[4]);
      default:
        throw new KernelError(Errno.ENOSYS, `unknown call ${call.op}`);
    }
  }

  /** Answers a call: its return value, or what it threw (undefined: it returned). */
  private finishCall(c: Client, seq: number, ctx: CallContext, ret: bigint, thrown: unknown, waits: Array<Promise<void>>): void {
    c.pendingCalls.delete(seq);
    const call = ctx.call;
    let err = 0;
    if (thrown !== undefined) {
      ret = 0n;
      if (thrown instanceof NeedMemory) {
        this.dropReturnedFds(c, ctx);
        c.send(Msg.Reply, seq, encodeReply({ ret: 0n, err: 0, retFdIdx: -1, writes: [], needs: thrown.needs }));
        return;
      }
      if (!(thrown instanceof KernelError)) {
        log(`internal error in call ${call.op} from ${c.comm}[${c.pid}]: ${(thrown as Error)?.stack ?? thrown}`);
        err = Errno.EINVAL;
      } else {
        err = thrown.errno;
        if (process.env.BPFTIME_DEBUG) log(`${c.comm}[${c.pid}] call ${call.op} ${call.args[0]}: errno ${thrown.errno}: ${thrown.message}`);
      }
      this.dropReturnedFds(c, ctx);
    }
    const reply = () => {
      const ok = c.send(
        Msg.Reply,
        seq,
        encodeReply({ ret, err, retFdIdx: err ? -1 : ctx.retFdIdx, writes: ctx.mem.writes, needs: [] }),
        err ? [] : ctx.passFds,
      );
      for (const fd of ctx.ownedFds) addon.closeFd(fd);
      if (!ok) this.disconnect(c);
    };
    if (waits.length === 0) {
      reply();
      return;
    }
    // The call made attachments: answer once the agents have them installed (bounded, so a
    // stuck agent delays a tool by at most a second; the attachment goes on being installed).
    const limit = new Promise<void>((r) => setTimeout(r, 1000).unref());
    Promise.race([Promise.all(waits), limit]).then(() => {
      if (!c.closed) reply();
      else for (const fd of ctx.ownedFds) addon.closeFd(fd);
    });
  }

  /** A failed call hands out no fds: drop what the handler already made the caller hold. */
  private dropReturnedFds(c: Client, ctx: CallContext): void {
    for (const fd of ctx.passFds) {
      for (const [ino, o] of c.held) if (o.fd === fd) c.releaseIno(ino);
    }
  }

  status(): Record<string, unknown> {
    const k = this.kernel;
    const kinds: Array<[string, ObjKind]> = [
      ['maps', ObjKind.Map],
      ['progs', ObjKind.Prog],
      ['links', ObjKind.Link],
      ['perf_events', ObjKind.PerfEvent],
      ['btf', ObjKind.Btf],
    ];
    return {
      server: { pid: process.pid, runtime_dir: this.opts.runtimeDir, uptime_ms: Date.now() - this.startedAt },
      clients: [...this.clients]
        .filter((c) => c.role !== Role.Cli)
        .map((c) => ({ role: c.role ? Role[c.role].toLowerCase() : 'unknown', pid: c.pid, comm: c.comm, exe: c.exe, objects: c.held.size })),
      objects: Object.fromEntries(kinds.map(([name, kind]) => [name, k.registry.all(kind).map((o) => o.describe())])),
      detached: this.processDetach.list(this.clients),
      pins: k.bpffs.pins().map((p) => ({ path: p.path, kind: ObjKind[p.obj.kind].toLowerCase(), id: p.obj.id })),
      attachments: k.attachments.list().map((a) => ({
        id: a.id,
        prog_id: a.prog.id,
        probe: a.event.spec.probe,
        path: a.event.spec.path,
        offset: '0x' + a.event.spec.offset.toString(16),
        pid: a.event.spec.pid,
        agents: [...a.agents.entries()].map(([pid, s]) => ({
          pid,
          state: s.status === 0 ? 'attached' : s.status === 1 ? 'pending' : s.status === 2 ? 'waiting' : 'failed',
          message: s.message,
        })),
      })),
    };
  }
}
