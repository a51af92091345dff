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
import * as fs from 'fs';

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

export class Kernel {
  readonly registry = new Registry();
  readonly attachments = new Attachments();
  readonly bpffs = new Bpffs();
  // Numbers used when sysfs has no such PMU (they match what Linux usually assigns).
  readonly uprobePmu: Pmu = readPmu('uprobe', 7);
  readonly kprobePmu: Pmu = readPmu('kprobe', 6);
  readonly tracePipe = new TracePipe();
  readonly tracefs = TracefsView.load({ uprobe: this.uprobePmu, kprobe: this.kprobePmu });

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
    const btf = new BpfBtf(this.registry.allocId(ObjKind.Btf), data);
    btf.kernelName = 'vmlinux';
    this.registry.add(btf).acquire(); // held by the kernel for as long as it runs
  }
}
