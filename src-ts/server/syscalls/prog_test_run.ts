// BPF_PROG_TEST_RUN, as kernel/bpf/syscall.c and net/bpf/test_run.c answer it, for the program
// types where it means something here: SYSCALL (ctx in, written back in place), RAW_TRACEPOINT
// (ctx = the u64 arguments; flags/cpu), XDP (packet in struct xdp_md: data_in/data_out, metadata
// and ctx_in/ctx_out), SCHED_CLS/SCHED_ACT and SOCKET_FILTER (packet in a struct __sk_buff).
// Every other type answers -ENOTSUPP (524), as a kernel whose type has no test_run.
//
// The program runs in the server through the addon (progTestRun), with the same loader, JIT code
// or interpreter and helpers as in agents, against the server's handles on its maps; runs happen
// in a forked child so that a program the kernel's verifier would have refused cannot take the
// server down. Sizes, limits and the order of the checks are the kernel's (6.x), so the same
// call gives the same errno on both.
import fs from 'node:fs';
import os from 'node:os';

import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { ObjKind } from '../../kernel/objects';
import { BpfProg } from '../../kernel/prog';
import { addon } from '../../native/addon';
import { CallContext, Struct } from './context';
import { statsSync } from './stats';
import { tailTargets } from './prog_array';
import { TracePipe } from '../../tracefs/trace_pipe';

const T = U.bpf_attr.test;
export const TEST_RUN_END = T.batch_size.off + T.batch_size.size;

// Kernel-internal constants (include/linux/*.h, x86-64), not in the uapi headers.
const PAGE_SIZE = 4096;
const ETH_HLEN = 14;
const XDP_PACKET_HEADROOM = 256;
const XDP_FRAME_SIZE = 40; // sizeof(struct xdp_frame): metadata may not eat into it
const SKB_SHARED_INFO = 320; // SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
const NET_SKB_PAD = 64; // max(32, L1_CACHE_BYTES); NET_IP_ALIGN is 0 on x86
const MAX_SKB_FRAGS = 17;
const TEST_XDP_MAX_BATCH = 256;
const MAX_BPF_FUNC_ARGS = 12;
const GSO_MAX_SEGS = 65535;
const GSO_LEGACY_MAX_SIZE = 65536;
const ETH_P_802_3_MIN = 0x0600;
const PACKET = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3 };
const AF_INET = 2;
const AF_INET6 = 10;
const { ENXIO, EBADMSG } = os.constants.errno;

interface RunResult {
  ok: boolean;
  retval: bigint;
  totalNs: number;
  ctx?: Buffer;
  pkt?: Buffer;
  pktBase: number;
  error?: string;
  timedOut?: boolean;
  cancelled?: boolean;
  trace?: Array<{ text: string; cpu: number; tsNs: bigint }>;
}

/** The addon's runnable copy of each program, made on its first test run. */
const handles = new WeakMap<BpfProg, unknown>();

function handleOf(prog: BpfProg): unknown {
  let h = handles.get(prog);
  if (h) return h;
  const maps: BpfMap[] = prog.spec.maps;
  h = addon.progOpen(prog.fd, maps.map((m) => m.id), maps.map((m) => m.ops));
  if (h && typeof h === 'object' && 'errno' in (h as object)) {
    const e = h as { errno: number; error: string };
    throw new KernelError(-e.errno, `program ${prog.id} cannot run here: ${e.error}`);
  }
  handles.set(prog, h);
  return h;
}

/** The caller as the kernel's helpers see it in a test run (current): pid, thread name, ids. The
 * calling thread is taken to be the process's main thread (the server knows processes only). */
function caller(ctx: CallContext): { asPid: number; asComm?: string; asUid?: number; asGid?: number } {
  const pid = ctx.client.peerPid;
  const who: ReturnType<typeof caller> = { asPid: pid, asUid: ctx.client.uid };
  try {
    who.asComm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
    const gid = /^Gid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (gid) who.asGid = Number(gid[1]);
  } catch {
    // the caller is gone: its answer no longer matters
  }
  return who;
}

/** What the runs of one call need, taken when the call starts: other calls run while it waits. */
interface RunEnv {
  call: CallContext;
  who: ReturnType<typeof caller>;
  /** The perf buffers in PERF_EVENT_ARRAY slots (see Attachments.perfSlotTable):
   * bpf_perf_event_output from a test run reaches the tool. */
  perfSlots: number[];
  /** Where the call's bpf_trace_printk lines go (the served trace_pipe, as on the kernel). */
  tracePipe: TracePipe;
}

/** Runs the program in the addon's forked child and resolves when the child is done. The server
 * goes on answering everyone meanwhile (a large repeat may take minutes, as on a kernel); the
 * caller's reply waits. A signal to the caller (its shim sends CANCEL) ends the run with EINTR,
 * as the kernel's bpf_test_timer_continue() does when signal_pending(). */
async function run(env: RunEnv, prog: BpfProg, opts: { ctx?: Buffer; pkt?: Buffer; ptrs?: number[]; repeat?: number; cpu?: number }): Promise<RunResult> {
  // What the run may tail-call into must be runnable here too (opening publishes it).
  for (const p of tailTargets(prog)) handleOf(p);
  const started = addon.progTestRunStart(handleOf(prog), { ...opts, ...env.who, perfSlots: env.perfSlots, timeoutMs: 0 });
  if ('errno' in started) throw new KernelError(-started.errno, `program ${prog.id} cannot run: ${started.error}`);
  const r = await new Promise<RunResult>((resolve) => {
    let finished = false;
    addon.watch(started.pidfd, () => {
      if (finished) return;
      finished = true;
      addon.unwatch(started.pidfd);
      env.call.onCancel = null;
      resolve(addon.progTestRunFinish(started.run) as RunResult);
    });
    env.call.onCancel = () => addon.progTestRunCancel(started.run);
  });
  for (const l of r.trace ?? []) {
    env.tracePipe.push({ pid: env.who.asPid, comm: env.who.asComm ?? '', cpu: l.cpu, tsNs: l.tsNs, text: l.text });
  }
  if (!r.ok) {
    // A kernel run cannot fault (its verifier proved the program safe) and stops at a signal
    // with EINTR; here the run ended early and the caller learns why in the server log.
    throw new KernelError(r.cancelled || r.timedOut ? Errno.EINTR : Errno.EFAULT, `program ${prog.id} ${r.error}`);
  }
  return r;
}

/** Kernel duration: the mean ns per run, saturated to u32. */
const durationOf = (r: RunResult, repeat: number) => Math.min(0xffffffff, Math.floor(r.totalNs / Math.max(1, repeat)));

const u32buf = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
};

class Answer {
  constructor(private readonly ctx: CallContext, private readonly attrAddr: bigint) {}
  field(f: { off: number }, v: number): void {
    this.ctx.mem.write(this.attrAddr + BigInt(f.off), u32buf(v));
  }
}

/** BPF_PROG_TEST_RUN: the checks happen at once; the answer comes when the run is done. */
export function progTestRun(ctx: CallContext, attr: Struct, attrAddr: bigint): Promise<bigint> {
  const ctxSizeIn = attr.u32(T.ctx_size_in), ctxIn = attr.u64(T.ctx_in);
  const ctxSizeOut = attr.u32(T.ctx_size_out), ctxOut = attr.u64(T.ctx_out);
  if (!!ctxSizeIn !== !!ctxIn) throw new KernelError(Errno.EINVAL, 'ctx_in and ctx_size_in go together');
  if (!!ctxSizeOut !== !!ctxOut) throw new KernelError(Errno.EINVAL, 'ctx_out and ctx_size_out go together');
  const prog = ctx.objectOf<BpfProg>(attr.s32(T.prog_fd), ObjKind.Prog, 'a program');
  statsSync(ctx.kernel); // test runs count as runs while BPF_ENABLE_STATS is on
  const env: RunEnv = { call: ctx, who: caller(ctx), tracePipe: ctx.kernel.tracePipe, perfSlots: ctx.kernel.attachments.perfSlotTable() };
  const t = prog.spec.progType;
  switch (t) {
    case U.BPF_PROG_TYPE_SYSCALL:
      return testRunSyscall(ctx, attr, attrAddr, prog, env);
    case U.BPF_PROG_TYPE_RAW_TRACEPOINT:
      return testRunRawTp(ctx, attr, attrAddr, prog, env);
    case U.BPF_PROG_TYPE_XDP:
      return testRunXdp(ctx, attr, attrAddr, prog, env);
    case U.BPF_PROG_TYPE_SCHED_CLS:
    case U.BPF_PROG_TYPE_SCHED_ACT:
    case U.BPF_PROG_TYPE_SOCKET_FILTER:
      return testRunSkb(ctx, attr, attrAddr, prog, env);
    default:
      throw new KernelError(Errno.ENOTSUP, `program type ${t} has no test run here`);
  }
}

/** The largest ctx offset + size the program loads or stores through its context pointer: what
 * the kernel's verifier records as max_ctx_offset. Follows r1 through register copies along the
 * instruction stream (clang keeps the context in a callee-saved register), which is what
 * compiled programs do; stack spills of the context are not followed. */
export function maxCtxOffset(insns: Buffer): number {
  const n = insns.length / 8;
  let ctxRegs = new Set<number>([1]);
  let max = 0;
  const SIZE: Record<number, number> = { [U.BPF_B]: 1, [U.BPF_H]: 2, [U.BPF_W]: 4, [U.BPF_DW]: 8 };
  for (let i = 0; i < n; i++) {
    const code = insns[i * 8], regs = insns[i * 8 + 1];
    const dst = regs & 0xf, src = regs >> 4, off = insns.readInt16LE(i * 8 + 2);
    const cls = code & 7, mode = code & 0xe0, size = SIZE[code & 0x18];
    if (cls === U.BPF_LDX && (mode === U.BPF_MEM || mode === 0x80 /* MEMSX */)) {
      if (ctxRegs.has(src)) max = Math.max(max, off + size);
      ctxRegs.delete(dst);
    } else if ((cls === U.BPF_STX || cls === U.BPF_ST) && ctxRegs.has(dst) && (mode === U.BPF_MEM)) {
      max = Math.max(max, off + size);
    } else if (cls === U.BPF_ALU64 && (code & 0xf0) === U.BPF_MOV && (code & 8) === U.BPF_X && insns.readInt16LE(i * 8 + 2) === 0) {
      if (ctxRegs.has(src)) ctxRegs.add(dst);
      else ctxRegs.delete(dst);
    } else if (cls === U.BPF_ALU64 || cls === U.BPF_ALU || (cls === U.BPF_LD)) {
      ctxRegs.delete(dst);
      if (code === (U.BPF_LD | U.BPF_IMM | U.BPF_DW)) i++;
    } else if (cls === U.BPF_JMP && (code & 0xf0) === U.BPF_CALL) {
      ctxRegs = new Set([...ctxRegs].filter((r) => r >= 6));
    } else if (cls === U.BPF_JMP && (code & 0xf0) === U.BPF_EXIT) {
      // The next instruction starts a subprogram (or is dead): its r1 is not our context.
      ctxRegs = new Set();
    }
  }
  return max;
}

/** bpf_prog_test_run_syscall: ctx in, the program's changes written back to ctx_in. */
async function testRunSyscall(ctx: CallContext, attr: Struct, attrAddr: bigint, prog: BpfProg, env: RunEnv): Promise<bigint> {
  if (attr.u64(T.data_in) || attr.u64(T.data_out) || attr.u64(T.ctx_out) || attr.u32(T.duration) ||
      attr.u32(T.repeat) || attr.u32(T.flags) || attr.u32(T.batch_size)) {
    throw new KernelError(Errno.EINVAL, 'syscall programs take only ctx_in (no data, ctx_out, duration, repeat, flags)');
  }
  const size = attr.u32(T.ctx_size_in), addr = attr.u64(T.ctx_in);
  if (size < maxCtxOffset(prog.spec.insns) || size > 0xffff) throw new KernelError(Errno.EINVAL, `ctx_size_in ${size} is too small or above 65535`);
  let ctxBuf: Buffer | undefined;
  if (size) {
    ctx.mem.require([{ addr, len: size }]);
    ctxBuf = Buffer.from(ctx.mem.read(addr, size));
  }
  const r = await run(env, prog, { ctx: ctxBuf, cpu: -1 });
  new Answer(ctx, attrAddr).field(T.retval, Number(r.retval & 0xffffffffn));
  if (size && r.ctx) ctx.mem.write(addr, r.ctx);
  return 0n;
}

/** bpf_prog_test_run_raw_tp: ctx = up to 12 u64 arguments; BPF_F_TEST_RUN_ON_CPU runs it on
 * `cpu` (ENXIO for a CPU that is not online). */
async function testRunRawTp(ctx: CallContext, attr: Struct, attrAddr: bigint, prog: BpfProg, env: RunEnv): Promise<bigint> {
  if (attr.u64(T.data_in) || attr.u64(T.data_out) || attr.u64(T.ctx_out) || attr.u32(T.duration) ||
      attr.u32(T.repeat) || attr.u32(T.batch_size)) {
    throw new KernelError(Errno.EINVAL, 'raw tracepoint programs take only ctx_in, flags and cpu');
  }
  const size = attr.u32(T.ctx_size_in), addr = attr.u64(T.ctx_in);
  if (size < maxCtxOffset(prog.spec.insns) || size > MAX_BPF_FUNC_ARGS * 8) {
    throw new KernelError(Errno.EINVAL, `ctx_size_in ${size}: the program reads further, or above ${MAX_BPF_FUNC_ARGS * 8}`);
  }
  const flags = attr.u32(T.flags), cpu = attr.u32(T.cpu);
  const onCpu = (flags & U.BPF_F_TEST_RUN_ON_CPU) !== 0;
  if (!onCpu && cpu !== 0) throw new KernelError(Errno.EINVAL, 'cpu without BPF_F_TEST_RUN_ON_CPU');
  let ctxBuf: Buffer | undefined;
  if (size) {
    ctx.mem.require([{ addr, len: size }]);
    ctxBuf = Buffer.from(ctx.mem.read(addr, size));
  }
  if (onCpu && !cpuOnline(cpu)) throw new KernelError(ENXIO, `cpu ${cpu} is not online`);
  const r = await run(env, prog, { ctx: ctxBuf, cpu: onCpu ? cpu : -1 });
  new Answer(ctx, attrAddr).field(T.retval, Number(r.retval & 0xffffffffn));
  return 0n;
}

function cpuOnline(cpu: number): boolean {
  if (cpu >= os.cpus().length + 4096) return false;
  try {
    const online = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
    return online.split(',').some((r) => {
      const [a, b] = r.split('-').map(Number);
      return cpu >= a && cpu <= (b ?? a);
    });
  } catch {
    return cpu < os.cpus().length;
  }
}

/** bpf_ctx_init: a context of `max` bytes from ctx_in (bytes beyond `max` must be zero: E2BIG),
 * zeroes when only ctx_out was given, undefined when neither. */
function ctxInit(ctx: CallContext, attr: Struct, max: number): Buffer | undefined {
  const addr = attr.u64(T.ctx_in), size = attr.u32(T.ctx_size_in);
  if (!addr && !attr.u64(T.ctx_out)) return undefined;
  const out = Buffer.alloc(max);
  if (addr) {
    // bpf_check_uarg_tail_zero
    if (size > PAGE_SIZE) throw new KernelError(Errno.E2BIG, 'ctx_size_in above a page');
    ctx.mem.require([{ addr, len: size }]);
    const bytes = ctx.mem.read(addr, size);
    if (size > max && bytes.subarray(max).some((b) => b !== 0)) throw new KernelError(Errno.E2BIG, 'non-zero bytes beyond the context struct');
    bytes.copy(out, 0, 0, Math.min(size, max));
  }
  return out;
}

/** bpf_test_finish: data_out clamped to data_size_out (ENOSPC, the rest still reported),
 * then data_size_out, retval and duration. frags: bytes of `data` that came from fragments. */
function testFinish(ctx: CallContext, attr: Struct, attrAddr: bigint, data: Buffer, frags: number, retval: number, duration: number): number {
  const out = attr.u64(T.data_out), sizeOut = attr.u32(T.data_size_out);
  let copy = data.length;
  let err = 0;
  if (sizeOut && copy > sizeOut) {
    copy = sizeOut;
    err = Errno.ENOSPC;
  }
  if (out) {
    // As the kernel copies: `copy - frags` bytes of the linear part, then the fragments from
    // there (so a clamped copy skips the end of the linear part, not the end of the packet).
    const linear = copy - frags;
    if (linear < 0) return Errno.ENOSPC; // the kernel returns before reporting anything
    const fragData = data.subarray(data.length - frags);
    ctx.mem.write(out, Buffer.concat([data.subarray(0, linear), fragData.subarray(0, copy - linear)]));
  }
  const a = new Answer(ctx, attrAddr);
  a.field(T.data_size_out, data.length);
  a.field(T.retval, retval);
  a.field(T.duration, duration);
  return err;
}

/** bpf_ctx_finish: the context out, clamped to ctx_size_out (ENOSPC). */
function ctxFinish(ctx: CallContext, attr: Struct, attrAddr: bigint, c: Buffer | undefined): number {
  const out = attr.u64(T.ctx_out);
  if (!c || !out) return 0;
  const max = attr.u32(T.ctx_size_out);
  ctx.mem.write(out, c.subarray(0, Math.min(c.length, max)));
  new Answer(ctx, attrAddr).field(T.ctx_size_out, c.length);
  return c.length > max ? Errno.ENOSPC : 0;
}

/** bpf_prog_test_run_xdp (without live frames, which need a network stack). The packet sits in
 * a page as the kernel lays it out: 256 bytes of headroom (metadata taken from its end), the
 * linear part, the skb_shared_info tailroom; what does not fit goes to fragments, which the
 * program sees only through their size. */
async function testRunXdp(ctx: CallContext, attr: Struct, attrAddr: bigint, prog: BpfProg, env: RunEnv): Promise<bigint> {
  const X = U.xdp_md;
  const eat = prog.spec.expectedAttachType;
  if (eat === U.BPF_XDP_DEVMAP || eat === U.BPF_XDP_CPUMAP) throw new KernelError(Errno.EINVAL, 'devmap/cpumap XDP programs have no test run');
  const flags = attr.u32(T.flags);
  if (flags & ~U.BPF_F_TEST_XDP_LIVE_FRAMES) throw new KernelError(Errno.EINVAL, 'unknown flags');
  const live = (flags & U.BPF_F_TEST_XDP_LIVE_FRAMES) !== 0;
  const batch = attr.u32(T.batch_size);
  if (live) {
    if (batch > TEST_XDP_MAX_BATCH) throw new KernelError(Errno.E2BIG, 'batch_size above 256');
  } else if (batch) {
    throw new KernelError(Errno.EINVAL, 'batch_size without BPF_F_TEST_XDP_LIVE_FRAMES');
  }
  const dataSizeIn = attr.u32(T.data_size_in), dataIn = attr.u64(T.data_in);
  const md = ctxInit(ctx, attr, U.sizeof.xdp_md);
  let headroom = XDP_PACKET_HEADROOM;
  let metaSz = 0;
  let linear = dataSizeIn;
  if (md) {
    const data = md.readUInt32LE(X.data.off), dataEnd = md.readUInt32LE(X.data_end.off);
    if (md.readUInt32LE(X.data_meta.off) || dataEnd > dataSizeIn || data > dataEnd || (live && (attr.u64(T.data_out) || attr.u64(T.ctx_out)))) {
      throw new KernelError(Errno.EINVAL, 'xdp_md: data_meta must be 0 and data <= data_end <= data_size_in');
    }
    metaSz = data;
    if ((metaSz & 3) || metaSz > 255 || metaSz > headroom - XDP_FRAME_SIZE) throw new KernelError(Errno.EINVAL, `metadata size ${metaSz} is invalid`);
    headroom -= metaSz;
    linear = dataEnd;
  }
  const maxLinear = PAGE_SIZE - headroom - SKB_SHARED_INFO;
  linear = Math.min(linear, maxLinear);
  if (live) {
    // The kernel would hand XDP_PASS frames to its network stack: there is none here.
    throw new KernelError(Errno.EINVAL, 'BPF_F_TEST_XDP_LIVE_FRAMES needs a kernel network stack');
  }
  if (((dataSizeIn - metaSz) >>> 0) < ETH_HLEN) throw new KernelError(Errno.EINVAL, `data_size_in ${dataSizeIn} is below an Ethernet header`);
  // bpf_test_init reads the linear part, then the fragments are read page by page.
  ctx.mem.require([{ addr: dataIn, len: dataSizeIn }]);
  const input = ctx.mem.read(dataIn, linear);
  let fragBytes = 0;
  if (dataSizeIn > linear) {
    const pages = Math.ceil((dataSizeIn - linear) / PAGE_SIZE);
    if (pages > MAX_SKB_FRAGS) throw new KernelError(Errno.ENOMEM, 'more fragments than MAX_SKB_FRAGS');
    fragBytes = dataSizeIn - linear;
  }
  const frags = fragBytes ? Buffer.from(ctx.mem.read(dataIn + BigInt(linear), fragBytes)) : Buffer.alloc(0);
  // The receive queue the program runs on: the loopback device's first, or the one ctx_in names
  // (any device's queue below its real_num_rx_queues: the core registers them all).
  let rxDev = 1, rxQueue = 0;
  if (md) {
    if (md.readUInt32LE(X.egress_ifindex.off)) throw new KernelError(Errno.EINVAL, 'egress_ifindex must be 0');
    const ingress = md.readUInt32LE(X.ingress_ifindex.off), rxq = md.readUInt32LE(X.rx_queue_index.off);
    if (!ingress && rxq) throw new KernelError(Errno.EINVAL, 'rx_queue_index without ingress_ifindex');
    if (ingress) {
      const dev = netDevice(ingress);
      if (!dev) throw new KernelError(Errno.ENODEV, `no device with ifindex ${ingress}`);
      if (rxq >= dev.rxQueues) throw new KernelError(Errno.EINVAL, `device ${ingress} has ${dev.rxQueues} receive queue(s)`);
      rxDev = ingress;
      rxQueue = rxq;
    }
  }
  // The page: [headroom: metadata at its end][linear data][tailroom].
  const pkt = Buffer.alloc(PAGE_SIZE);
  input.copy(pkt, headroom);
  const metaOff = headroom, dataOff = headroom + metaSz, endOff = headroom + linear;
  const view = Buffer.alloc(U.sizeof.xdp_md);
  view.writeUInt32LE(rxDev, X.ingress_ifindex.off);
  view.writeUInt32LE(rxQueue, X.rx_queue_index.off);
  const repeat = Math.max(1, attr.u32(T.repeat));
  const r = await run(env, prog, {
    ctx: view, pkt, repeat,
    ptrs: [X.data.off, dataOff, X.data_end.off, endOff, X.data_meta.off, metaOff],
  });
  // Packet bounds as the program left them (they move only through helpers).
  const off = (f: { off: number }) => r.ctx!.readUInt32LE(f.off) - r.pktBase;
  const meta = off(X.data_meta), start = off(X.data), end = off(X.data_end);
  const out = Buffer.concat([r.pkt!.subarray(meta, end), frags]);
  let err = testFinish(ctx, attr, attrAddr, out, frags.length, Number(r.retval & 0xffffffffn), durationOf(r, repeat));
  if (!err && md) {
    md.writeUInt32LE(start - meta, X.data.off);
    md.writeUInt32LE(end - meta, X.data_end.off);
    err = ctxFinish(ctx, attr, attrAddr, md);
  }
  if (err) throw new KernelError(err, 'output did not fit');
  return 0n;
}

interface NetDevice { ifindex: number; addr: Buffer; broadcast: Buffer; rxQueues: number }

function macOf(s: string): Buffer {
  return Buffer.from(s.trim().split(':').map((x) => parseInt(x, 16)));
}

/** A network device by ifindex, from sysfs (its MAC and broadcast address decide pkt_type). */
function netDevice(ifindex: number): NetDevice | undefined {
  try {
    for (const name of fs.readdirSync('/sys/class/net')) {
      const dir = `/sys/class/net/${name}`;
      if (Number(fs.readFileSync(`${dir}/ifindex`, 'utf8')) !== ifindex) continue;
      return {
        ifindex,
        addr: macOf(fs.readFileSync(`${dir}/address`, 'utf8')),
        broadcast: macOf(fs.readFileSync(`${dir}/broadcast`, 'utf8')),
        rxQueues: fs.readdirSync(`${dir}/queues`).filter((q) => q.startsWith('rx-')).length,
      };
    }
  } catch {
    // no sysfs: only the loopback device below
  }
  return undefined;
}

const LOOPBACK: NetDevice = { ifindex: 1, addr: Buffer.alloc(6), broadcast: Buffer.alloc(6), rxQueues: 1 };

/** The 16-bit one's complement sum of b, folded (csum_fold before the final inversion). */
function csum16(b: Buffer): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** bpf_prog_test_run_skb: SCHED_CLS/SCHED_ACT see the frame from its Ethernet header with direct
 * packet access; SOCKET_FILTER sees it from the network header, and the Ethernet header comes
 * back zeroed, as the kernel pushes a blank one before copying out. */
async function testRunSkb(ctx: CallContext, attr: Struct, attrAddr: bigint, prog: BpfProg, env: RunEnv): Promise<bigint> {
  const S = U.__sk_buff;
  const flags = attr.u32(T.flags);
  if ((flags & ~U.BPF_F_TEST_SKB_CHECKSUM_COMPLETE) || attr.u32(T.cpu) || attr.u32(T.batch_size)) {
    throw new KernelError(Errno.EINVAL, 'unknown flags, or cpu/batch_size (not taken by skb programs)');
  }
  const size = attr.u32(T.data_size_in), dataIn = attr.u64(T.data_in);
  if (size < ETH_HLEN) throw new KernelError(Errno.EINVAL, `data_size_in ${size} is below an Ethernet header`);
  if (size > PAGE_SIZE - NET_SKB_PAD - SKB_SHARED_INFO) throw new KernelError(Errno.EINVAL, `data_size_in ${size} does not fit a page with skb head- and tailroom`);
  ctx.mem.require([{ addr: dataIn, len: size }]);
  const input = ctx.mem.read(dataIn, size);
  const sk = ctxInit(ctx, attr, U.sizeof.__sk_buff);
  const t = prog.spec.progType;
  const isL2 = t === U.BPF_PROG_TYPE_SCHED_CLS || t === U.BPF_PROG_TYPE_SCHED_ACT;

  let dev = LOOPBACK;
  if (sk && sk.readUInt32LE(S.ifindex.off) > 1) {
    const d = netDevice(sk.readUInt32LE(S.ifindex.off));
    if (!d) throw new KernelError(Errno.ENODEV, `no device with ifindex ${sk.readUInt32LE(S.ifindex.off)}`);
    dev = d;
  }
  // eth_type_trans: pkt_type from the destination MAC, protocol from h_proto (or 802.3/802.2).
  const dest = input.subarray(0, 6);
  let pktType = PACKET.HOST;
  if (!dest.equals(dev.addr)) {
    if (dest[0] & 1) pktType = dest.equals(dev.broadcast) ? PACKET.BROADCAST : PACKET.MULTICAST;
    else pktType = PACKET.OTHERHOST;
  }
  const hProto = input.readUInt16BE(12);
  let protoBe: number;
  if (hProto >= ETH_P_802_3_MIN) protoBe = hProto;
  else protoBe = size - ETH_HLEN >= 2 && input.readUInt16BE(ETH_HLEN) === 0xffff ? 0x0001 : 0x0004;
  // The dummy socket: family and addresses from the IP header.
  let family = 0;
  const l3 = input.subarray(ETH_HLEN);
  const view = Buffer.alloc(U.sizeof.__sk_buff);
  if (protoBe === 0x0800) {
    family = AF_INET;
    if (l3.length >= 20) {
      l3.copy(view, S.local_ip4.off, 12, 16);
      l3.copy(view, S.remote_ip4.off, 16, 20);
    }
  } else if (protoBe === 0x86dd) {
    family = AF_INET6;
    if (l3.length >= 40) {
      l3.copy(view, S.local_ip6.off, 8, 24);
      l3.copy(view, S.remote_ip6.off, 24, 40);
    }
  }
  const len = isL2 ? size : size - ETH_HLEN;
  // convert___skb_to_skb: only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len,
  // gso_segs, gso_size and hwtstamp may be set.
  let wireLen = 0;
  if (sk) {
    const allowed = [S.mark, S.priority, S.ingress_ifindex, S.ifindex, S.cb, S.tstamp, S.wire_len, S.gso_segs, S.gso_size, S.hwtstamp];
    const ok = new Uint8Array(U.sizeof.__sk_buff);
    for (const f of allowed) ok.fill(1, f.off, f.off + f.size);
    if (sk.some((b, i) => b !== 0 && !ok[i])) throw new KernelError(Errno.EINVAL, '__sk_buff: only mark, priority, ifindex, cb, tstamp, wire_len, gso_* and hwtstamp may be set');
    wireLen = sk.readUInt32LE(S.wire_len.off);
    if (wireLen === 0) wireLen = len;
    else if (wireLen < len || wireLen > GSO_LEGACY_MAX_SIZE) throw new KernelError(Errno.EINVAL, `wire_len ${wireLen} is out of range`);
    if (sk.readUInt32LE(S.gso_segs.off) > GSO_MAX_SEGS) throw new KernelError(Errno.EINVAL, 'gso_segs above GSO_MAX_SEGS');
    for (const f of [S.mark, S.priority, S.ingress_ifindex, S.cb, S.tstamp, S.gso_segs, S.gso_size, S.hwtstamp]) sk.copy(view, f.off, f.off, f.off + f.size);
  }
  view.writeUInt32LE(len, S.len.off);
  view.writeUInt32LE(pktType, S.pkt_type.off);
  view.writeUInt16LE(((protoBe & 0xff) << 8) | (protoBe >> 8), S.protocol.off); // __be16 as the program loads it
  view.writeUInt32LE(dev.ifindex, S.ifindex.off);
  view.writeUInt32LE(wireLen, S.wire_len.off);
  view.writeUInt32LE(family, S.family.off);
  // The skb head: NET_SKB_PAD of headroom, the frame, the shared-info tailroom.
  const pkt = Buffer.alloc(PAGE_SIZE);
  input.copy(pkt, NET_SKB_PAD);
  const dataOff = NET_SKB_PAD + (isL2 ? 0 : ETH_HLEN), endOff = NET_SKB_PAD + size;
  const csumOn = (flags & U.BPF_F_TEST_SKB_CHECKSUM_COMPLETE) !== 0;
  // skb_checksum from the network header to the end.
  const csumBefore = csumOn ? csum16(input.subarray(ETH_HLEN)) : 0;
  const repeat = Math.max(1, attr.u32(T.repeat));
  // Socket filters may not read data/data_end (the kernel's verifier refuses it); they are set
  // anyway for bpf_skb_load_bytes, which reads the packet from skb->data on.
  const r = await run(env, prog, { ctx: view, pkt, repeat, ptrs: [S.data.off, dataOff, S.data_end.off, endOff, S.data_meta.off, dataOff] });
  const frame = Buffer.from(r.pkt!.subarray(NET_SKB_PAD, endOff));
  if (!isL2) frame.fill(0, 0, ETH_HLEN);
  if (csumOn && csum16(frame.subarray(ETH_HLEN)) !== csumBefore) throw new KernelError(EBADMSG, 'the program changed the packet without fixing its checksum');
  // convert_skb_to___skb
  if (sk) {
    const after = r.ctx!;
    for (const f of [S.mark, S.priority, S.ingress_ifindex, S.cb, S.tstamp, S.gso_segs, S.hwtstamp]) after.copy(sk, f.off, f.off, f.off + f.size);
    sk.writeUInt32LE(dev.ifindex, S.ifindex.off);
    sk.writeUInt32LE(wireLen, S.wire_len.off);
  }
  let err = testFinish(ctx, attr, attrAddr, frame, 0, Number(r.retval & 0xffffffffn), durationOf(r, repeat));
  if (!err) err = ctxFinish(ctx, attr, attrAddr, sk);
  if (err) throw new KernelError(err, 'output did not fit');
  return 0n;
}
