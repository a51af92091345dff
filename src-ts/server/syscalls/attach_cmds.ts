// The attach commands of kernel subsystems a userspace runtime cannot offer: BPF_PROG_ATTACH,
// BPF_PROG_DETACH and BPF_PROG_QUERY (cgroups, sockmaps, lirc, flow dissector, sk_lookup) and
// BPF_RAW_TRACEPOINT_OPEN (kernel tracepoints; fentry/fexit on syscall entry functions are
// attached, see tracing_link.ts).
//
// Each validates its attr and the fds it names exactly as bpf_prog_attach() & co. do, so a
// malformed call fails with the kernel's errno; a well-formed one then fails the way a kernel
// built without the subsystem fails (the stubs behind CONFIG_CGROUP_BPF, CONFIG_BPF_LIRC_MODE2,
// CONFIG_BPF_STREAM_PARSER...: EINVAL), and a raw tracepoint the way a kernel without that
// tracepoint does (ENOENT). Nothing here ever pretends to have attached anything.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfProg } from '../../kernel/prog';
import { CallContext, Struct } from './context';
import { progOf } from './fds';
import { log } from '../log';
import { attachSyscallTracing, syscallTracingTarget } from './tracing_link';

const T = U.bpf_prog_type;
const A = U.bpf_attach_type;

/** attach_type_to_prog_type() (0 = BPF_PROG_TYPE_UNSPEC: not an attach type of this command). */
export function attachTypeToProgType(at: number): number {
  switch (at) {
    case A.BPF_CGROUP_INET_INGRESS:
    case A.BPF_CGROUP_INET_EGRESS:
      return T.BPF_PROG_TYPE_CGROUP_SKB;
    case A.BPF_CGROUP_INET_SOCK_CREATE:
    case A.BPF_CGROUP_INET_SOCK_RELEASE:
    case A.BPF_CGROUP_INET4_POST_BIND:
    case A.BPF_CGROUP_INET6_POST_BIND:
      return T.BPF_PROG_TYPE_CGROUP_SOCK;
    case A.BPF_CGROUP_INET4_BIND:
    case A.BPF_CGROUP_INET6_BIND:
    case A.BPF_CGROUP_INET4_CONNECT:
    case A.BPF_CGROUP_INET6_CONNECT:
    case A.BPF_CGROUP_INET4_GETPEERNAME:
    case A.BPF_CGROUP_INET6_GETPEERNAME:
    case A.BPF_CGROUP_INET4_GETSOCKNAME:
    case A.BPF_CGROUP_INET6_GETSOCKNAME:
    case A.BPF_CGROUP_UDP4_SENDMSG:
    case A.BPF_CGROUP_UDP6_SENDMSG:
    case A.BPF_CGROUP_UDP4_RECVMSG:
    case A.BPF_CGROUP_UDP6_RECVMSG:
      return T.BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
    case A.BPF_CGROUP_SOCK_OPS:
      return T.BPF_PROG_TYPE_SOCK_OPS;
    case A.BPF_CGROUP_DEVICE:
      return T.BPF_PROG_TYPE_CGROUP_DEVICE;
    case A.BPF_SK_MSG_VERDICT:
      return T.BPF_PROG_TYPE_SK_MSG;
    case A.BPF_SK_SKB_STREAM_PARSER:
    case A.BPF_SK_SKB_STREAM_VERDICT:
    case A.BPF_SK_SKB_VERDICT:
      return T.BPF_PROG_TYPE_SK_SKB;
    case A.BPF_LIRC_MODE2:
      return T.BPF_PROG_TYPE_LIRC_MODE2;
    case A.BPF_FLOW_DISSECTOR:
      return T.BPF_PROG_TYPE_FLOW_DISSECTOR;
    case A.BPF_CGROUP_SYSCTL:
      return T.BPF_PROG_TYPE_CGROUP_SYSCTL;
    case A.BPF_CGROUP_GETSOCKOPT:
    case A.BPF_CGROUP_SETSOCKOPT:
      return T.BPF_PROG_TYPE_CGROUP_SOCKOPT;
    case A.BPF_TRACE_ITER:
    case A.BPF_TRACE_RAW_TP:
    case A.BPF_TRACE_FENTRY:
    case A.BPF_TRACE_FEXIT:
    case A.BPF_MODIFY_RETURN:
      return T.BPF_PROG_TYPE_TRACING;
    case A.BPF_LSM_MAC:
    case A.BPF_LSM_CGROUP:
      return T.BPF_PROG_TYPE_LSM;
    case A.BPF_SK_LOOKUP:
      return T.BPF_PROG_TYPE_SK_LOOKUP;
    case A.BPF_XDP:
      return T.BPF_PROG_TYPE_XDP;
    default:
      return T.BPF_PROG_TYPE_UNSPEC;
  }
}

const ATTACH_MASK_BASE = U.BPF_F_ALLOW_OVERRIDE | U.BPF_F_ALLOW_MULTI | U.BPF_F_REPLACE;

/** The part of bpf_prog_attach_check_attach_type() a program fetched by attach type can fail:
 * types whose attach type is fixed at load time. */
function attachTypeFits(prog: BpfProg, at: number): boolean {
  switch (prog.spec.progType) {
    case T.BPF_PROG_TYPE_CGROUP_SOCK:
    case T.BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
    case T.BPF_PROG_TYPE_CGROUP_SOCKOPT:
    case T.BPF_PROG_TYPE_SK_LOOKUP:
      return at === prog.spec.expectedAttachType;
    default:
      return true;
  }
}

const P = U.bpf_attr.attach;

export function progAttach(ctx: CallContext, attr: Struct): bigint {
  const at = attr.u32(P.attach_type);
  const ptype = attachTypeToProgType(at);
  if (ptype === T.BPF_PROG_TYPE_UNSPEC) throw new KernelError(Errno.EINVAL, `attach type ${at} is not for PROG_ATTACH`);
  if (attr.u32(P.attach_flags) & ~ATTACH_MASK_BASE) throw new KernelError(Errno.EINVAL, 'unknown attach_flags');
  // bpf_prog_get_type(): EBADF for a closed fd, EINVAL for anything but a program of that type.
  const prog = progOf(ctx, attr.s32(P.attach_bpf_fd));
  if (prog.spec.progType !== ptype) throw new KernelError(Errno.EINVAL, 'program type does not match the attach type');
  if (!attachTypeFits(prog, at)) throw new KernelError(Errno.EINVAL, 'attach type differs from the expected one');
  throw new KernelError(Errno.EINVAL, `${attachName(at)} programs cannot be attached in userspace`);
}

export function progDetach(_ctx: CallContext, attr: Struct): bigint {
  // Whatever the attach type and flags, nothing was attached (progAttach never succeeds): the
  // kernel's flag checks and its stubs for the missing subsystems all answer EINVAL.
  throw new KernelError(Errno.EINVAL, `nothing is ever attached to ${attachName(attr.u32(P.attach_type))} here`);
}

export function progQuery(_ctx: CallContext, attr: Struct): bigint {
  const Q = U.bpf_attr.query;
  if (attr.u32(Q.query_flags) & ~U.BPF_F_QUERY_EFFECTIVE) throw new KernelError(Errno.EINVAL, 'unknown query_flags');
  throw new KernelError(Errno.EINVAL, `attach type ${attr.u32(Q.attach_type)} cannot be queried here`);
}

const RT = U.bpf_attr.raw_tracepoint;

export function rawTracepointOpen(ctx: CallContext, attr: Struct): bigint {
  const prog = progOf(ctx, attr.s32(RT.prog_fd));
  const nameAddr = attr.u64(RT.name);
  switch (prog.spec.progType) {
    case T.BPF_PROG_TYPE_RAW_TRACEPOINT:
    case T.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: {
      // strncpy_from_user() of at most 127 bytes: a longer name is cut, never an error.
      let name: string;
      try {
        name = ctx.mem.readString(nameAddr, 128);
      } catch (e) {
        if (!(e instanceof KernelError) || e.errno !== Errno.E2BIG) throw e;
        name = '(long name)';
      }
      log(`${ctx.client.comm}[${ctx.client.pid}]: raw tracepoint ${name} is a kernel tracepoint, not available in userspace; refused with ENOENT`);
      throw new KernelError(Errno.ENOENT, `kernel tracepoint ${name} does not exist in userspace`);
    }
    case T.BPF_PROG_TYPE_TRACING:
    case T.BPF_PROG_TYPE_EXT:
    case T.BPF_PROG_TYPE_LSM:
      // Their target comes from attach_btf_id at load time, never from a name.
      if (nameAddr) throw new KernelError(Errno.EINVAL, 'tracing programs take no tracepoint name');
      {
        // fentry/fexit on a syscall's entry function run at that syscall (tracing_link.ts)
        const target = syscallTracingTarget(ctx, prog);
        if (target) return attachSyscallTracing(ctx, prog, target, 0n);
      }
      // Other fentry/fexit/LSM run inside kernel functions (bcc's opensnoop and friends pick them
      // when the kernel has BTF): say so where the user looks, the tool only sees the errno.
      log(`${ctx.client.comm}[${ctx.client.pid}]: program ${prog.name || prog.id} is ${tracingKind(prog)}, which cannot run in userspace; refused with EINVAL`);
      throw new KernelError(Errno.EINVAL, 'no attach target');
    default:
      throw new KernelError(Errno.EINVAL, 'not a raw tracepoint program');
  }
}

/** What a BTF-typed tracing program hooks, for the refusal message. */
function tracingKind(prog: BpfProg): string {
  if (prog.spec.progType === T.BPF_PROG_TYPE_LSM) return 'an LSM program on a kernel hook';
  if (prog.spec.expectedAttachType === A.BPF_TRACE_RAW_TP) return 'a BTF tracepoint program (tp_btf) on a kernel tracepoint';
  if (prog.spec.expectedAttachType === A.BPF_TRACE_ITER) return 'an iterator over kernel objects';
  return 'an fentry/fexit program on a kernel function other than a syscall entry function (__x64_sys_<name>)';
}

function attachName(at: number): string {
  return (Object.entries(A).find(([, v]) => v === at)?.[0] ?? String(at)).replace(/^BPF_/, '').toLowerCase();
}

const end = (f: { off: number; size: number }) => f.off + f.size;
export const ATTACH_END = end(P.replace_bpf_fd);
export const QUERY_END = end(U.bpf_attr.query.prog_attach_flags);
export const RAW_TP_END = end(RT.prog_fd);
