// A perf event: for this runtime, a probe point (uprobe, uretprobe, tracepoint) that a program
// runs at once a program is set on it (PERF_EVENT_IOC_SET_BPF or a perf link) and it is enabled.
import { addon } from '../native/addon';
import { BpfObject, ObjKind } from './objects';
import { BpfProg } from './prog';

export type ProbeKind = 'uprobe' | 'uretprobe' | 'kprobe' | 'kretprobe' | 'fentry' | 'fexit' | 'tracepoint' | 'bpf_output' | 'timer';

/** Probes on a syscall's entry function (the server's own events for fentry/fexit links). */
export const SYSCALL_FUNCTION_PROBES: ReadonlySet<ProbeKind> = new Set<ProbeKind>(['kprobe', 'kretprobe', 'fentry', 'fexit']);

export interface PerfEventSpec {
  probe: ProbeKind;
  type: number; // perf_event_attr.type as the tool passed it
  config: bigint;
  path: string; // uprobes: the binary; tracepoints: "system/event"; kprobes: the function
  offset: bigint; // uprobes: file offset; syscall tracepoints: the syscall nr (-1: every syscall); syscall
  // function probes: the syscall nr (-1: a function no syscall calls, never runs); timers: period in ns
  tpId: number; // tracepoints: the event id
  refCtrOffset: bigint;
  pid: number; // -1: every process
  cpu: number;
  /** uprobes: more places of the same event (a uprobe_events event that several probes were
   * appended to); the program runs at each. */
  morePlaces?: UprobePlace[];
}

/** One place a uprobe fires: the binary, the file offset, the semaphore's offset (0: none). */
export interface UprobePlace {
  path: string;
  offset: bigint;
  refCtrOffset: bigint;
}

export class PerfEvent extends BpfObject {
  enabled: boolean;
  prog: BpfProg | null = null;
  /** bpf_output events (perf buffers): the eventfd producers write to wake the consumer. */
  waitFd = -1;
  cookie = 0n;
  /** When the program was set, in order across events: a tracepoint's programs run (and
   * PERF_EVENT_IOC_QUERY_BPF lists them) in the order they were attached. */
  progSeq = 0;
  private static progSeqNext = 0;
  /** Called when whether the event runs a program may have changed. */
  static onChange: (e: PerfEvent) => void = () => {};

  constructor(id: number, readonly spec: PerfEventSpec, disabled: boolean) {
    super(ObjKind.PerfEvent, id, spec.type, spec.probe, 0);
    this.enabled = !disabled;
  }

  get active(): boolean {
    return this.enabled && this.prog !== null && !this.destroyed;
  }

  setProg(p: BpfProg | null, cookie = 0n): void {
    if (this.prog) this.prog.release();
    this.prog = p ? p.acquire() : null;
    this.progSeq = p ? ++PerfEvent.progSeqNext : 0;
    this.cookie = cookie;
    PerfEvent.onChange(this);
  }

  setEnabled(on: boolean): void {
    this.enabled = on;
    PerfEvent.onChange(this);
  }

  protected onDestroy(): void {
    if (this.waitFd >= 0) addon.closeFd(this.waitFd);
    const p = this.prog;
    this.prog = null;
    PerfEvent.onChange(this);
    p?.release();
  }

  describe(): Record<string, unknown> {
    return {
      id: this.id,
      probe: this.spec.probe,
      path: this.spec.path,
      offset: '0x' + this.spec.offset.toString(16),
      pid: this.spec.pid,
      enabled: this.enabled,
      prog_id: this.prog?.id ?? null,
      refs: this.refcount,
    };
  }
}
