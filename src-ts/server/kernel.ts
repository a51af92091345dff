// The emulated kernel as a whole: every object, the pins that keep some of them alive, the PMUs
// tools open events on, and the attachments pushed to agents.
import { Registry } from '../kernel/registry';
import { Bpffs } from '../kernel/bpffs';
import { Attachments } from './attachments';
import { Pmu, readPmu } from './syscalls/perf';
import { TracefsView } from '../tracefs/view';
import { TracePipe } from '../tracefs/trace_pipe';
import { BpfBtf } from '../kernel/btf';
import { ObjKind } from '../kernel/objects';
import { PerfEvent } from '../kernel/perf_event';
import { PERF_TYPE_TRACEPOINT } from '../uapi/perf_event';
import * as fs from 'fs';
import { Btf } from '../btf/btf';
import { BtfKind } from '../btf/format';
import { TaskLayout, computeTaskLayout } from '../btf/task_layout';
import { VmaLayout, computeVmaLayout, encodeVmaLayout } from '../btf/vma_layout';
import { NsLayout, computeNsLayout, encodeNsLayout } from '../btf/ns_layout';
import { encodeTaskLayout } from './protocol';
import { log } from './log';

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

export class Kernel {
  readonly registry = new Registry();
  readonly attachments = new Attachments();
  readonly bpffs = new Bpffs();
  // Numbers used when sysfs has no such PMU (they match what Linux usually assigns).
  readonly uprobePmu: Pmu = readPmu('uprobe', 7);
  readonly kprobePmu: Pmu = readPmu('kprobe', 6);
  readonly tracePipe = new TracePipe();
  readonly tracefs = TracefsView.load(
    { uprobe: this.uprobePmu, kprobe: this.kprobePmu },
    // a uprobe_events event is in use while a perf event is open on it (removal: EBUSY)
    (id) => this.registry.all(ObjKind.PerfEvent).some((e) => !e.destroyed && (e as PerfEvent).spec.type === PERF_TYPE_TRACEPOINT && (e as PerfEvent).spec.tpId === id),
    log,
  );
  private vmlinuxBtf: Buffer | null = null;
  /** The id of the kernel's BTF object (0: no BTF): tracing links name it as their target. */
  vmlinuxBtfId = 0;
  private taskLayoutMsg: Buffer | null = null;

  constructor() {
    this.loadKernelBtf();
  }

  /** The kernel's own BTF, listed as the kernel lists it (BTF id 1, kernel_btf, "vmlinux"):
   * tools find type information by walking BTF ids (bpftrace resolves tracepoint argument types
   * this way). Absent where the machine has no BTF. */
  private loadKernelBtf(): void {
    let data: Buffer;
    try {
      data = fs.readFileSync(VMLINUX_BTF);
    } catch {
      return;
    }
    this.vmlinuxBtf = data;
    const btf = new BpfBtf(this.registry.allocId(ObjKind.Btf), data);
    this.vmlinuxBtfId = btf.id;
    btf.kernelName = 'vmlinux';
    this.registry.add(btf).acquire(); // held by the kernel for as long as it runs
  }

  private vmlinuxParsed: Btf | null = null;

  /** vmlinux BTF, parsed on first use (types are decoded when asked for); null without BTF.
   * Throws BtfError when it cannot be parsed. */
  private parsedVmlinux(): Btf | null {
    if (!this.vmlinuxBtf) return null;
    return (this.vmlinuxParsed ??= Btf.parse(this.vmlinuxBtf));
  }

  /** The name of the function vmlinux BTF id `id` is (fentry/fexit targets), or undefined. */
  vmlinuxFuncName(id: number): string | undefined {
    try {
      const t = id ? this.parsedVmlinux()?.type(id) : undefined;
      return t?.kind === BtfKind.FUNC ? t.name : undefined;
    } catch {
      return undefined;
    }
  }

  /** The MSG_TASK_LAYOUT payload every agent gets: the kernel's task_struct layout, computed
   * from its BTF on first use (~0.1 s) and kept. Without BTF (or a task_struct in it) it says
   * "no layout", and bpf_get_current_task() returns 0 in agents. */
  taskLayout(): Buffer {
    if (this.taskLayoutMsg) return this.taskLayoutMsg;
    let layout: TaskLayout | null = null;
    let vma: VmaLayout | null = null;
    let ns: NsLayout | null = null;
    if (this.vmlinuxBtf) {
      try {
        const btf = this.parsedVmlinux()!;
        layout = computeTaskLayout(btf);
        vma = computeVmaLayout(btf); // bpf_find_vma's stand-ins
        ns = computeNsLayout(btf); // the stand-ins' task->nsproxy
      } catch (e) {
        log(`kernel BTF: cannot compute the task_struct layout: ${(e as Error).message}`);
      }
    }
    this.taskLayoutMsg = Buffer.concat([encodeTaskLayout(layout), encodeVmaLayout(vma), encodeNsLayout(ns)]);
    return this.taskLayoutMsg;
  }
}
