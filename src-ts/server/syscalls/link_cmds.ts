// BPF_LINK_CREATE. Perf-event links are how libbpf attaches uprobes when the kernel supports
// them (it probes with target_fd -1 and expects EBADF); tracing links for fentry/fexit on syscall
// entry functions (tracing_link.ts); other attach types are not offered.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { ObjKind } from '../../kernel/objects';
import { BpfProg } from '../../kernel/prog';
import { PerfEvent } from '../../kernel/perf_event';
import { BpfLink } from '../../kernel/link';
import { CallContext, Struct } from './context';
import { callsHelper } from '../../verifier/helper_rules';
import { linkCreateTracing } from './tracing_link';

const A = U.bpf_attr.link_create;

/** Program types that may run at a perf event (perf_event_set_bpf_prog()). */
export function progFitsPerfEvent(prog: BpfProg, e: PerfEvent): boolean {
  const t = prog.spec.progType;
  if (e.spec.probe === 'tracepoint') return t === U.BPF_PROG_TYPE_TRACEPOINT;
  if (e.spec.probe === 'timer') return t === U.BPF_PROG_TYPE_PERF_EVENT;
  // bpf_override_return needs a function entry (perf_event_attach_bpf_prog(): EINVAL elsewhere).
  if ((e.spec.probe === 'uretprobe' || e.spec.probe === 'kretprobe') && callsHelper(prog.spec.insns, U.BPF_FUNC_override_return)) return false;
  return t === U.BPF_PROG_TYPE_KPROBE;
}

/** Program types that may use a perf link (link_create()'s switch on the program type). */
const PERF_LINK_PROG_TYPES = new Set<number>([U.BPF_PROG_TYPE_KPROBE, U.BPF_PROG_TYPE_TRACEPOINT, U.BPF_PROG_TYPE_PERF_EVENT]);

export function linkCreate(ctx: CallContext, attr: Struct): bigint {
  const prog = ctx.objectOf<BpfProg>(attr.s32(A.prog_fd), ObjKind.Prog, 'a program');
  const attachType = attr.u32(A.attach_type);
  if (prog.spec.progType === U.BPF_PROG_TYPE_TRACING && !attr.u32(A.flags)) {
    const fd = linkCreateTracing(ctx, prog, attachType, attr.u64(A.tracing.cookie));
    if (fd !== null) return fd;
  }
  // The program type is checked against the attach type before the target is looked at.
  if (attachType !== U.BPF_PERF_EVENT || !PERF_LINK_PROG_TYPES.has(prog.spec.progType)) {
    throw new KernelError(Errno.EINVAL, `attach type ${attachType} is not offered for this program type`);
  }
  if (attr.u32(A.flags)) throw new KernelError(Errno.EINVAL, 'flags must be 0');
  // perf_event_get(): anything that is not a perf event is EBADF.
  const target = ctx.object(attr.s32(A.target_fd));
  if (target.kind !== ObjKind.PerfEvent) throw new KernelError(Errno.EBADF, 'target_fd is not a perf event');
  const event = target as PerfEvent;
  if (!progFitsPerfEvent(prog, event)) throw new KernelError(Errno.EINVAL, 'program type does not fit this perf event');
  if (event.prog) throw new KernelError(Errno.EEXIST, 'perf event already has a program');
  const k = ctx.kernel;
  const link = k.registry.add(new BpfLink(k.registry.allocId(ObjKind.Link), U.BPF_LINK_TYPE_PERF_EVENT, attachType, prog, event));
  event.setProg(prog, attr.u64(A.perf_event.bpf_cookie));
  return ctx.returnFd(link);
}
