// BPF_ENABLE_STATS (BPF_STATS_RUN_TIME), as kernel/bpf/syscall.c: CAP_SYS_ADMIN only (EPERM),
// other types EINVAL; the answer is an fd, and while any such fd is open every program counts
// run_cnt and run_time_ns (bpf_prog_info, bpftool prog show, fdinfo).
//
// The counters live in each program's memfd header page (struct bpftime_prog_stats, objfile.h),
// where agents and the server's test runs add to them; the server raises each program's
// `enabled` word while stats are on. The fd the caller gets is the write end of a pipe whose
// read end the server watches: it hangs up when the last copy of that fd is closed, whatever the
// process did with it meanwhile (dup, fork, exec, SCM_RIGHTS), as the kernel's file release.
import fs from 'node:fs';

import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { ObjKind } from '../../kernel/objects';
import { BpfProg } from '../../kernel/prog';
import { Kernel } from '../kernel';
import { addon } from '../../native/addon';
import { CallContext, Struct } from './context';

const E = U.bpf_attr.enable_stats;
export const ENABLE_STATS_END = E.type.off + E.type.size;

/** The offset of struct bpftime_prog_stats in a program's memfd (objfile.h). */
const STATS_OFF = 2048;
const ENABLED = 0, RUN_CNT = 8, RUN_TIME_NS = 16, MISSES = 24;

/** The read ends of the open stats fds, per server (kernel). */
const openFds = new WeakMap<Kernel, Set<number>>();

function fdsOf(k: Kernel): Set<number> {
  let s = openFds.get(k);
  if (!s) openFds.set(k, (s = new Set()));
  return s;
}

export const statsEnabled = (k: Kernel): boolean => fdsOf(k).size > 0;

/** Drops stats fds whose last copy was closed; stats go off with the last one. */
function release(k: Kernel, r: number): void {
  const fds = fdsOf(k);
  if (!fds.delete(r)) return;
  addon.unwatch(r);
  addon.closeFd(r);
  if (fds.size === 0) setAll(k, false);
}

/** Looks at every stats fd now rather than when the event loop reports it: a caller that
 * closed its stats fd and then asks (test run, prog info) must already see stats off. */
export function statsSync(k: Kernel): void {
  for (const r of [...fdsOf(k)]) if (addon.fdHungUp(r)) release(k, r);
}

function setEnabled(prog: BpfProg, on: boolean): void {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(on ? 1 : 0, 0);
  fs.writeSync(prog.fd, b, 0, 4, STATS_OFF + ENABLED);
}

function setAll(k: Kernel, on: boolean): void {
  for (const o of k.registry.all(ObjKind.Prog)) if (!o.destroyed) setEnabled(o as BpfProg, on);
}

/** For PROG_LOAD: a program loaded while stats are on counts from its first run. */
export function statsOnNewProg(k: Kernel, prog: BpfProg): void {
  if (statsEnabled(k)) setEnabled(prog, true);
}

/** run_cnt, run_time_ns and recursion_misses as bpf_prog_info reports them. */
export function progStats(prog: BpfProg): { runCnt: bigint; runTimeNs: bigint; misses: bigint } {
  const b = Buffer.alloc(32);
  fs.readSync(prog.fd, b, 0, 32, STATS_OFF);
  return { runCnt: b.readBigUInt64LE(RUN_CNT), runTimeNs: b.readBigUInt64LE(RUN_TIME_NS), misses: b.readBigUInt64LE(MISSES) };
}

export function enableStats(ctx: CallContext, attr: Struct): bigint {
  if (ctx.client.uid !== 0) throw new KernelError(Errno.EPERM, 'BPF_ENABLE_STATS needs CAP_SYS_ADMIN');
  if (attr.u32(E.type) !== U.BPF_STATS_RUN_TIME) throw new KernelError(Errno.EINVAL, `unknown stats type ${attr.u32(E.type)}`);
  const k = ctx.kernel;
  const [r, w] = addon.pipe() as [number, number];
  if (r < 0) throw new KernelError(-r, 'pipe failed');
  statsSync(k);
  const fds = fdsOf(k);
  fds.add(r);
  if (fds.size === 1) setAll(k, true);
  // Nothing is ever written to the pipe: readable means every write end is closed.
  addon.watch(r, () => release(k, r));
  addon.refWatch(r, false); // an open stats fd alone does not keep the server up
  return ctx.returnOwnedFd(w);
}
