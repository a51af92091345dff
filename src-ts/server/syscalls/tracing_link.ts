// fentry/fexit programs on a syscall's entry function (__x64_sys_<name>, named by the program's
// attach_btf_id in vmlinux BTF), attached with BPF_RAW_TRACEPOINT_OPEN (bcc) or BPF_LINK_CREATE
// (libbpf): a tracing link whose program the agents' syscall interception runs at the entry or
// the return of that syscall, with the context a kernel's trampoline builds: the function's
// arguments as u64s (the task's user registers, a struct pt_regs *), then for fexit its return
// value. bcc's opensnoop and bpftrace's kfunc: probes pick these where the kernel has BTF.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfLink } from '../../kernel/link';
import { ObjKind } from '../../kernel/objects';
import { PerfEvent } from '../../kernel/perf_event';
import { BpfProg } from '../../kernel/prog';
import { CallContext } from './context';

const A = U.bpf_attach_type;

/** The syscall entry function a tracing program attaches to, with its syscall, or undefined. */
export function syscallTracingTarget(ctx: CallContext, prog: BpfProg): { fn: string; nr: number; exit: boolean } | undefined {
  const at = prog.spec.expectedAttachType;
  if (prog.spec.progType !== U.BPF_PROG_TYPE_TRACING || (at !== A.BPF_TRACE_FENTRY && at !== A.BPF_TRACE_FEXIT)) return undefined;
  const fn = ctx.kernel.vmlinuxFuncName(prog.spec.attachBtfId ?? 0);
  const sc = fn ? ctx.kernel.tracefs.syscallOfFunction(fn) : undefined;
  return fn && sc ? { fn, nr: sc.nr, exit: at === A.BPF_TRACE_FEXIT } : undefined;
}

/** Attaches prog (see syscallTracingTarget) and returns the link's fd. The attachment is an event
 * of the server's own, held by the link alone: it goes with the link. */
export function attachSyscallTracing(ctx: CallContext, prog: BpfProg, target: { fn: string; nr: number; exit: boolean }, cookie: bigint): bigint {
  const k = ctx.kernel;
  const event = new PerfEvent(
    k.registry.allocId(ObjKind.PerfEvent),
    { probe: target.exit ? 'fexit' : 'fentry', type: 0, config: 0n, path: target.fn, offset: BigInt(target.nr), refCtrOffset: 0n, pid: -1, cpu: -1, tpId: 0 },
    false,
  );
  k.registry.add(event);
  let link: BpfLink;
  try {
    link = k.registry.add(new BpfLink(k.registry.allocId(ObjKind.Link), U.BPF_LINK_TYPE_TRACING, prog.spec.expectedAttachType, prog, event));
  } catch (e) {
    event.acquire().release();
    throw e;
  }
  event.setProg(prog, cookie);
  return ctx.returnFd(link);
}

/** BPF_LINK_CREATE for a tracing program: its attach type must be the one it was loaded for. */
export function linkCreateTracing(ctx: CallContext, prog: BpfProg, attachType: number, cookie: bigint): bigint | null {
  if (prog.spec.progType !== U.BPF_PROG_TYPE_TRACING) return null;
  if (attachType !== prog.spec.expectedAttachType) throw new KernelError(Errno.EINVAL, 'attach type differs from the program\'s expected attach type');
  const target = syscallTracingTarget(ctx, prog);
  return target ? attachSyscallTracing(ctx, prog, target, cookie) : null;
}
