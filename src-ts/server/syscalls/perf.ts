// perf_event_open(2) and the PERF_EVENT_IOC_* ioctls on the perf events it returns.
// uprobe/uretprobe PMU events are served; other event kinds fail the way a kernel without them
// fails (ENOENT for an unknown PMU type), with a line in the server log naming what was asked.
import * as fs from 'fs';
import * as P from '../../uapi/perf_event';
import { Errno, KernelError } from '../../kernel/errno';
import { ObjKind } from '../../kernel/objects';
import { PerfEvent } from '../../kernel/perf_event';
import { BpfProg } from '../../kernel/prog';
import { CallContext, Struct } from './context';
import { progFitsPerfEvent } from './link_cmds';
import { log } from '../log';
import { addon } from '../../native/addon';
import { IOC_WAIT_FD } from '../protocol';
import { BpfMap } from '../../kernel/map';
import { ringbufWakeFd } from './ringbuf';
import { SYSCALL_FN_PREFIX } from '../../tracefs/syscall_functions';

const F = P.perf_event_attr;
const PAGE = 4096;
const PATH_MAX = 4096;
const PERF_UPROBE_REF_CTR_OFFSET_SHIFT = 32n;
/** Where a BPF_OUTPUT event's sample_type sits in its memfd's header page (objfile.h). */
const PERF_SAMPLE_TYPE_OFF = 2048;
/** The sample_type bits bpf_perf_event_output writes here (BPFTIME_PERF_SAMPLE_SUPPORTED in perf_ring.h). */
const SAMPLE_SUPPORTED = P.PERF_SAMPLE_IDENTIFIER | P.PERF_SAMPLE_TID | P.PERF_SAMPLE_TIME | P.PERF_SAMPLE_ADDR | P.PERF_SAMPLE_ID |
  P.PERF_SAMPLE_STREAM_ID | P.PERF_SAMPLE_CPU | P.PERF_SAMPLE_PERIOD | P.PERF_SAMPLE_RAW;
const PERF_FLAGS = P.PERF_FLAG_FD_NO_GROUP | P.PERF_FLAG_FD_OUTPUT | P.PERF_FLAG_PID_CGROUP | P.PERF_FLAG_FD_CLOEXEC;

export interface Pmu {
  type: number;
  retprobeBit: number;
}

/** A PMU as sysfs describes it; when the file is absent (containers, no tracefs) the runtime
 * still offers it, under the number given. */
export function readPmu(name: string, fallbackType: number): Pmu {
  const dir = `/sys/bus/event_source/devices/${name}`;
  let type = fallbackType;
  let retprobeBit = 0;
  try {
    type = parseInt(fs.readFileSync(`${dir}/type`, 'utf8'), 10);
  } catch {
    /* emulated */
  }
  try {
    const m = /config:(\d+)/.exec(fs.readFileSync(`${dir}/format/retprobe`, 'utf8'));
    if (m) retprobeBit = parseInt(m[1], 10);
  } catch {
    /* emulated: bit 0, as the kernel defines it */
  }
  return { type, retprobeBit };
}

export function sysPerfEventOpen(ctx: CallContext, attrAddr: bigint, pid: number, cpu: number, groupFd: number, flags: number): bigint {
  let size = ctx.mem.read(attrAddr + BigInt(F.size.off), 4).readUInt32LE(0);
  if (size === 0) size = P.PERF_ATTR_SIZE_VER0;
  if (size < P.PERF_ATTR_SIZE_VER0 || size > PAGE) {
    // The kernel tells the caller the size it expects.
    const b = Buffer.alloc(4);
    b.writeUInt32LE(P.sizeof.perf_event_attr, 0);
    ctx.mem.write(attrAddr + BigInt(F.size.off), b);
    throw new KernelError(Errno.E2BIG, 'bad perf_event_attr size');
  }
  const raw = ctx.mem.read(attrAddr, size);
  if (size > P.sizeof.perf_event_attr && raw.subarray(P.sizeof.perf_event_attr).some((b) => b !== 0)) {
    throw new KernelError(Errno.E2BIG, 'non-zero bytes beyond perf_event_attr');
  }
  const attr = new Struct(Buffer.from(raw));
  if (flags & ~PERF_FLAGS) throw new KernelError(Errno.EINVAL, 'unknown perf_event_open flags');
  if (pid === -1 && cpu === -1) throw new KernelError(Errno.EINVAL, 'pid -1 needs a cpu');
  if (groupFd !== -1) throw new KernelError(Errno.EINVAL, 'event groups are not offered');
  if (pid === 0) pid = ctx.client.pid; // the calling process, as the kernel reads pid 0
  const type = attr.u32(F.type);
  const config = attr.u64(F.config);
  const flagsWord = attr.u64({ off: F.disabled.off, size: 8 });
  const disabled = ((flagsWord >> BigInt(F.disabled.bit)) & 1n) === 1n;
  const k = ctx.kernel;

  if (type === k.uprobePmu.type) {
    const retprobe = ((config >> BigInt(k.uprobePmu.retprobeBit)) & 1n) === 1n;
    const given = ctx.mem.readString(attr.u64(F.config1), PATH_MAX);
    // /proc/self is the caller's (bpftrace probes its own binary as /proc/self/exe); agents
    // then match the file itself, so name it by its real path.
    const path = resolveCallerPath(given, ctx.client.pid);
    const offset = attr.u64(F.config2);
    let st: fs.Stats;
    try {
      st = fs.statSync(path);
    } catch {
      throw new KernelError(Errno.ENOENT, `uprobe target ${path} does not exist`);
    }
    if (!st.isFile()) throw new KernelError(Errno.EINVAL, `uprobe target ${path} is not a regular file`);
    if (offset > BigInt(st.size)) throw new KernelError(Errno.EINVAL, `offset 0x${offset.toString(16)} is beyond ${path}`);
    // The kernel's uprobe_register(): a semaphore is a u16, so an odd offset is refused (bcc
    // 0.26's Python passes garbage here and falls back to uprobe_events when refused).
    const refCtrOffset = config >> PERF_UPROBE_REF_CTR_OFFSET_SHIFT;
    if (refCtrOffset & 1n) throw new KernelError(Errno.EINVAL, `ref_ctr_offset 0x${refCtrOffset.toString(16)} is not aligned`);
    checkRefCtrAgrees(ctx, path, offset, refCtrOffset);
    const ev = new PerfEvent(
      k.registry.allocId(ObjKind.PerfEvent),
      {
        probe: retprobe ? 'uretprobe' : 'uprobe',
        type,
        config,
        path,
        offset,
        refCtrOffset,
        pid,
        cpu,
        tpId: 0,
      },
      disabled,
    );
    k.registry.add(ev);
    return ctx.returnFd(ev);
  }
  if (type === P.PERF_TYPE_TRACEPOINT && k.tracefs.uprobes.byId(Number(config))) {
    // A uprobe made through uprobe_events (bcc's fallback): a uprobe, opened by its event id.
    const u = k.tracefs.uprobes.byId(Number(config))!;
    for (const place of [u, ...u.more]) {
      let size: number;
      try {
        size = fs.statSync(place.file).size;
      } catch {
        throw new KernelError(Errno.ENOENT, `uprobe target ${place.file} is gone`);
      }
      if (place.offset > BigInt(size)) throw new KernelError(Errno.EINVAL, `offset 0x${place.offset.toString(16)} is beyond ${place.file}`); // uprobe_register()
      checkRefCtrAgrees(ctx, place.file, place.offset, place.refCtrOffset);
    }
    const morePlaces = u.more.map((p) => ({ path: p.file, offset: p.offset, refCtrOffset: p.refCtrOffset }));
    const ev = new PerfEvent(
      k.registry.allocId(ObjKind.PerfEvent),
      { probe: u.retprobe ? 'uretprobe' : 'uprobe', type, config, path: u.file, offset: u.offset, refCtrOffset: u.refCtrOffset, pid, cpu, tpId: u.id, morePlaces },
      disabled,
    );
    k.registry.add(ev);
    return ctx.returnFd(ev);
  }
  if (type === P.PERF_TYPE_TRACEPOINT) {
    const e = k.tracefs.eventById(Number(config));
    if (!e) throw new KernelError(Errno.EINVAL, `no tracepoint with id ${config}`); // perf_trace_init(): EINVAL
    const ev = new PerfEvent(
      k.registry.allocId(ObjKind.PerfEvent),
      {
        probe: 'tracepoint',
        type,
        config,
        path: `${e.system}/${e.name}`,
        offset: BigInt.asUintN(64, BigInt(e.nr)),
        refCtrOffset: 0n,
        pid,
        cpu,
        tpId: e.id,
      },
      disabled,
    );
    k.registry.add(ev);
    return ctx.returnFd(ev);
  }
  if (type === P.PERF_TYPE_SOFTWARE && config === BigInt(P.PERF_COUNT_SW_BPF_OUTPUT)) {
    // A perf buffer for one CPU: its ring is the memfd's payload, sized when the tool maps it.
    // Its records carry the fields of sample_type (bpftool's event_pipe asks for TIME too); the
    // writers read it from the memfd's header page (BPFTIME_PERF_SAMPLE_TYPE_OFF in objfile.h).
    const sampleType = attr.u64(F.sample_type);
    const unsupported = sampleType & ~BigInt(SAMPLE_SUPPORTED);
    if (unsupported) {
      log(`${ctx.client.comm}[${ctx.client.pid}]: BPF_OUTPUT sample_type bits 0x${unsupported.toString(16)} (instruction pointer, call chains, registers, ...) are not offered; refused with EOPNOTSUPP`);
      throw new KernelError(Errno.EOPNOTSUPP, `sample_type 0x${unsupported.toString(16)} is not offered for BPF output`);
    }
    const waitFd = addon.eventfd();
    if (waitFd < 0) throw new KernelError(-waitFd, 'eventfd failed');
    const ev = new PerfEvent(
      k.registry.allocId(ObjKind.PerfEvent),
      { probe: 'bpf_output', type, config, path: '', offset: 0n, refCtrOffset: 0n, pid, cpu, tpId: 0 },
      disabled,
    );
    ev.waitFd = waitFd;
    const st = Buffer.alloc(8);
    st.writeBigUInt64LE(sampleType, 0);
    fs.writeSync(ev.fd, st, 0, 8, PERF_SAMPLE_TYPE_OFF);
    k.registry.add(ev);
    return ctx.returnFd(ev);
  }
  if (type === P.PERF_TYPE_SOFTWARE && (config === BigInt(P.PERF_COUNT_SW_CPU_CLOCK) || config === BigInt(P.PERF_COUNT_SW_TASK_CLOCK))) {
    // Clock events drive timed programs (bpftrace interval:/profile:): the period is the
    // sample_period in ns, or 1e9/sample_freq with attr.freq (src-native/agent/timer.c).
    const freqMode = ((flagsWord >> BigInt(F.freq.bit)) & 1n) === 1n;
    const sample = attr.u64(F.sample_period);
    if (sample === 0n) throw new KernelError(Errno.EINVAL, 'a clock event needs a sample period or frequency');
    const periodNs = freqMode ? 1000000000n / sample : sample;
    const ev = new PerfEvent(
      k.registry.allocId(ObjKind.PerfEvent),
      // Every traced process samples its own threads on its CPU time (pid -1: all of them);
      // for pid -1 the opener also keeps the wall-clock tick (the kernel's ticks in untraced
      // tasks and the idle loop): the agents' ATTACH says who in refCtrOffset, the CPU in tpId.
      { probe: 'timer', type, config, path: '', offset: periodNs > 0n ? periodNs : 1n, refCtrOffset: pid === -1 ? BigInt(ctx.client.pid) : 0n, pid, cpu, tpId: cpu >>> 0 },
      disabled,
    );
    k.registry.add(ev);
    return ctx.returnFd(ev);
  }
  if (type === k.kprobePmu.type) {
    // Name the probe: config1 points at the function's name (else config2 is an address).
    const retprobe = ((config >> BigInt(k.kprobePmu.retprobeBit)) & 1n) === 1n;
    const named = attr.u64(F.config1) !== 0n;
    const fn = named ? ctx.mem.readString(attr.u64(F.config1), 512) : `0x${attr.u64(F.config2).toString(16)}`;
    const probe = `${retprobe ? 'kretprobe' : 'kprobe'}:${fn}`;
    // A syscall's entry function runs in the syscall's task, between its sys_enter and sys_exit
    // tracepoints: the agents' syscall interception runs these (src-native/agent/syscall_tp.c).
    const sc = named ? k.tracefs.syscallOfFunction(fn) : undefined;
    if (sc && attr.u64(F.config2) !== 0n) {
      log(`${ctx.client.comm}[${ctx.client.pid}]: ${probe}+0x${attr.u64(F.config2).toString(16)}: only a syscall function's entry can be probed in userspace; refused with ENOENT`);
      throw new KernelError(Errno.ENOENT, `${probe}+offset is not available`);
    }
    if (sc) {
      const ev = new PerfEvent(
        k.registry.allocId(ObjKind.PerfEvent),
        { probe: retprobe ? 'kretprobe' : 'kprobe', type, config, path: fn, offset: BigInt(sc.nr), refCtrOffset: 0n, pid, cpu, tpId: 0 },
        disabled,
      );
      k.registry.add(ev);
      return ctx.returnFd(ev);
    }
    log(`${ctx.client.comm}[${ctx.client.pid}]: ${probe} is a kernel probe, not available in userspace (kprobes on syscall entry functions, ${SYSCALL_FN_PREFIX}<name>, are); refused with ENOENT`);
    throw new KernelError(Errno.ENOENT, `${probe} is not available`);
  }
  log(`${ctx.client.comm}[${ctx.client.pid}]: perf event type ${type} config ${config} is not offered yet; refused with ENOENT`);
  throw new KernelError(Errno.ENOENT, `perf event type ${type} is not offered`);
}

/** The kernel keeps one uprobe per (file, offset) with one reference counter offset: a probe
 * there with another ref_ctr_offset while one exists is refused (EINVAL, "ref_ctr_offset
 * mismatch" in the kernel's log). bcc 0.26 meets this when its Python passes garbage there. */
function checkRefCtrAgrees(ctx: CallContext, path: string, offset: bigint, refCtrOffset: bigint): void {
  const other = ctx.kernel.registry.all(ObjKind.PerfEvent).map((o) => o as PerfEvent).find((e) =>
    !e.destroyed && (e.spec.probe === 'uprobe' || e.spec.probe === 'uretprobe') && e.spec.path === path && e.spec.offset === offset && e.spec.refCtrOffset !== refCtrOffset);
  if (!other) return;
  log(`${ctx.client.comm}[${ctx.client.pid}]: uprobe ${path}+0x${offset.toString(16)} exists with ref_ctr_offset 0x${other.spec.refCtrOffset.toString(16)}, not 0x${refCtrOffset.toString(16)}; refused with EINVAL as the kernel does`);
  throw new KernelError(Errno.EINVAL, 'ref_ctr_offset mismatch');
}

function resolveCallerPath(p: string, pid: number): string {
  const own = p.replace(/^\/proc\/(self|thread-self)\//, `/proc/${pid}/`);
  try {
    return fs.realpathSync(own);
  } catch {
    return own;
  }
}

export function sysIoctl(ctx: CallContext, fd: number, req: number, arg: bigint): bigint {
  const obj = ctx.object(fd);
  if (req === IOC_WAIT_FD && obj.kind === ObjKind.Map) {
    // A ring buffer map: the shim waits on its eventfd, as on a perf buffer's.
    ctx.passFds.push(ringbufWakeFd(obj as BpfMap));
    ctx.retFdIdx = ctx.passFds.length - 1;
    return 0n;
  }
  if (obj.kind !== ObjKind.PerfEvent) throw new KernelError(Errno.ENOTTY, 'not a perf event');
  const ev = obj as PerfEvent;
  switch (req) {
    case P.PERF_EVENT_IOC_SET_BPF: {
      const prog = ctx.objectOf<BpfProg>(Number(BigInt.asIntN(32, arg)), ObjKind.Prog, 'a program');
      if (!progFitsPerfEvent(prog, ev)) throw new KernelError(Errno.EINVAL, 'program type does not fit this perf event');
      if (ev.prog) throw new KernelError(Errno.EEXIST, 'perf event already has a program');
      ev.setProg(prog);
      return 0n;
    }
    case P.PERF_EVENT_IOC_ENABLE:
      ev.setEnabled(true);
      return 0n;
    case P.PERF_EVENT_IOC_DISABLE:
      ev.setEnabled(false);
      return 0n;
    case IOC_WAIT_FD:
      // The shim waits on this eventfd in place of the event (epoll, poll).
      if (ev.waitFd < 0) throw new KernelError(Errno.EINVAL, 'this perf event has nothing to wait for');
      ctx.passFds.push(ev.waitFd);
      ctx.retFdIdx = ctx.passFds.length - 1;
      return 0n;
    case P.PERF_EVENT_IOC_QUERY_BPF:
      return queryBpf(ctx, ev, arg);
    case P.PERF_EVENT_IOC_ID: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(ev.id), 0);
      ctx.mem.write(arg, b);
      return 0n;
    }
    default:
      throw new KernelError(Errno.ENOTTY, `perf ioctl 0x${req.toString(16)} is not offered`);
  }
}

const BPF_TRACE_MAX_PROGS = 64;

/** PERF_EVENT_IOC_QUERY_BPF, as perf_event_query_prog_array(): the ids of the programs attached
 * to the event's tracepoint (through any perf event on it, in attach order). Only tracepoint
 * events have such a list (EINVAL otherwise, uprobe PMU events included, as their attr.type is
 * the PMU's). The count is written back even when the ids do not fit (ENOSPC). */
function queryBpf(ctx: CallContext, ev: PerfEvent, arg: bigint): bigint {
  if (ev.spec.type !== P.PERF_TYPE_TRACEPOINT) throw new KernelError(Errno.EINVAL, 'not a tracepoint event');
  const idsLen = ctx.mem.read(arg, 8).readUInt32LE(0); // struct perf_event_query_bpf { ids_len, prog_cnt, ids[] }
  if (idsLen > BPF_TRACE_MAX_PROGS) throw new KernelError(Errno.E2BIG, `ids_len ${idsLen} is above ${BPF_TRACE_MAX_PROGS}`);
  const progs = ctx.kernel.registry
    .all(ObjKind.PerfEvent)
    .map((o) => o as PerfEvent)
    .filter((e) => !e.destroyed && e.prog && e.spec.type === P.PERF_TYPE_TRACEPOINT && e.spec.tpId === ev.spec.tpId)
    .sort((a, b) => a.progSeq - b.progSeq)
    .map((e) => e.prog!.id);
  const cnt = Buffer.alloc(4);
  cnt.writeUInt32LE(progs.length, 0);
  const ids = Buffer.alloc(idsLen * 4);
  progs.slice(0, idsLen).forEach((id, i) => ids.writeUInt32LE(id, i * 4));
  ctx.mem.write(arg + 4n, cnt);
  if (idsLen) ctx.mem.write(arg + 8n, ids);
  if (idsLen && progs.length > idsLen) throw new KernelError(Errno.ENOSPC, `${progs.length} programs, room for ${idsLen}`);
  return 0n;
}
