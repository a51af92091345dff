// The emulated kernel as a whole: every object, the pins that keep some of them alive, the PMUs
// tools open events on, and the attachments pushed to agents.
import { Registry } from '../kernel/registry';
import { Bpffs } from '../kernel/bpffs';
import { Attachments } from './attachments';
import { Pmu, readPmu } from './syscalls/perf';
import { TracefsView } from '../tracefs/view';
import { TracePipe } from '../tracefs/trace_pipe';

export class Kernel {
  readonly registry = new Registry();
  readonly attachments = new Attachments();
  readonly bpffs = new Bpffs();
  // Numbers used when sysfs has no such PMU (they match what Linux usually assigns).
  readonly uprobePmu: Pmu = readPmu('uprobe', 7);
  readonly kprobePmu: Pmu = readPmu('kprobe', 6);
  readonly tracePipe = new TracePipe();
  readonly tracefs = TracefsView.load({ uprobe: this.uprobePmu, kprobe: this.kprobePmu });
}
