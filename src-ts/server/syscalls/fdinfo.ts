// /proc/<pid>/fdinfo/<fd> of an object fd, as the kernel's show_fdinfo for bpf files prints it.
// Tools read it: bpftool for memlock and a map's frozen state, libbpf and others to learn a map's
// type or id from an fd alone. The file a tool would read is the memfd's own (no such lines), so
// the shim has to send opens of fdinfo paths of object fds here, as it sends tracefs opens
// (syscalls/files.ts), and hand back a memfd with this content.
//
// The generic lines (pos, flags, mnt_id, ino) are the memfd's, from the server's own fdinfo of it,
// except flags, which are those a bpf fd has (read-write and close-on-exec; links read-only); a
// map fd's are the caller's own fd's (its access mode, BPF_F_RDONLY/WRONLY, and close-on-exec).
import * as fs from 'fs';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { BpfMap } from '../../kernel/map';
import { BpfProg } from '../../kernel/prog';
import { BpfLink } from '../../kernel/link';
import { PerfEvent } from '../../kernel/perf_event';
import { bpf_link_type } from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { CallContext } from './context';
import { progStats } from './stats';
import { progArrayFdinfo } from './prog_array';

const PAGE = 4096;
const O_CLOEXEC_OCT = '02000000';
const O_RDWR_CLOEXEC_OCT = '02000002';
const O_LARGEFILE = 0o100000;

const hex = (v: bigint | number) => (BigInt(v) === 0n ? '0x0' : '0x' + BigInt(v).toString(16));
const pages = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** The lines of show_fdinfo for o, after the generic ones. */
function bpfLines(o: BpfObject): string[] {
  switch (o.kind) {
    case ObjKind.Map: {
      const m = o as BpfMap;
      return [
        `map_type:\t${m.spec.mapType}`,
        `key_size:\t${m.spec.keySize}`,
        `value_size:\t${m.spec.valueSize}`,
        `max_entries:\t${m.spec.maxEntries}`,
        `map_flags:\t${hex(m.spec.mapFlags)}`,
        `map_extra:\t${hex(m.spec.mapExtra)}`,
        `memlock:\t${m.regionSize}`,
        `map_id:\t${m.id}`,
        `frozen:\t${m.frozen ? 1 : 0}`,
        ...progArrayFdinfo(m),
      ];
    }
    case ObjKind.Prog: {
      const p = o as BpfProg;
      const st = progStats(p);
      return [
        `prog_type:\t${p.spec.progType}`,
        `prog_jited:\t0`,
        `prog_tag:\t${p.tag.toString('hex')}`,
        `memlock:\t${pages(fs.fstatSync(p.fd).size)}`,
        `prog_id:\t${p.id}`,
        `run_time_ns:\t${st.runTimeNs}`,
        `run_cnt:\t${st.runCnt}`,
        `recursion_misses:\t${st.misses}`,
        `verified_insns:\t${p.insnCnt}`,
      ];
    }
    case ObjKind.Link: {
      const l = o as BpfLink;
      // bpf_link_type_strs[]: the enum name without its prefix, "perf_event" printed as "perf".
      const name = (Object.entries(bpf_link_type).find(([, v]) => v === l.linkType)?.[0] ?? '')
        .replace(/^BPF_LINK_TYPE_/, '')
        .toLowerCase();
      const lines = [
        `link_type:\t${name === 'perf_event' ? 'perf' : name}`,
        `link_id:\t${l.id}`,
        `prog_tag:\t${l.prog.tag.toString('hex')}`,
        `prog_id:\t${l.prog.id}`,
      ];
      const ev: PerfEvent | null = l.perfEvent;
      if (ev && (ev.spec.probe === 'uprobe' || ev.spec.probe === 'uretprobe')) {
        lines.push(
          `name:\t${ev.spec.path}`,
          `offset:\t${hex(ev.spec.offset)}`,
          `ref_ctr_offset:\t${hex(ev.spec.refCtrOffset)}`,
          `event_type:\t${ev.spec.probe}`,
          `cookie:\t${ev.cookie}`,
        );
      }
      return lines;
    }
    default:
      return []; // BTF and perf event files print only the generic lines
  }
}

/** The whole fdinfo text of an object. */
export function fdinfoText(o: BpfObject, ownFlags?: string): string {
  const generic = fs.readFileSync(`/proc/self/fdinfo/${o.fd}`, 'utf8').split('\n');
  const field = (k: string) => generic.find((l) => l.startsWith(k + ':'))?.split('\t')[1] ?? '0';
  const flags =
    o.kind === ObjKind.Link ? O_CLOEXEC_OCT : o.kind === ObjKind.PerfEvent ? '02' : o.kind === ObjKind.Map && ownFlags ? ownFlags : O_RDWR_CLOEXEC_OCT;
  const lines = [`pos:\t0`, `flags:\t${flags}`, `mnt_id:\t${field('mnt_id')}`, `ino:\t${field('ino')}`, ...bpfLines(o)];
  return lines.join('\n') + '\n';
}

/** `/proc/self/fdinfo/<fd>` or `/proc/<caller's pid>/fdinfo/<fd>` for one of the caller's object
 * fds: its content; null for any other path (not ours to serve). */
export function procFdinfo(ctx: CallContext, path: string): Buffer | null {
  const m = /^\/proc\/(self|thread-self|\d+)\/fdinfo\/(\d+)$/.exec(path);
  if (!m) return null;
  if (m[1] !== 'self' && m[1] !== 'thread-self' && Number(m[1]) !== ctx.client.pid && Number(m[1]) !== ctx.client.peerPid) {
    return null;
  }
  let o: BpfObject;
  try {
    o = ctx.object(Number(m[2]));
  } catch {
    throw new KernelError(Errno.ENOENT, `${path}: not an object fd`);
  }
  // A map fd's flags are its own open file's (access mode, close-on-exec): the caller's fd of
  // the memfd has both (syscalls/context.ts returnFd).
  let own: string | undefined;
  try {
    const f = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/${ctx.client.peerPid}/fdinfo/${m[2]}`, 'utf8'))?.[1];
    // less O_LARGEFILE, which a memfd has and an anon inode does not; printed as "0%o"
    if (f !== undefined) own = '0' + (parseInt(f, 8) & ~O_LARGEFILE).toString(8);
  } catch {
    /* keep the default */
  }
  return Buffer.from(fdinfoText(o, own));
}
