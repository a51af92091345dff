// A link ties a program to an attach point and keeps it there for as long as the link lives.
// Perf links (BPF_PERF_EVENT) set the program on a perf event; closing the last reference to
// the link takes the program off again — the hook goes with the link, as on a kernel.
import { BpfObject, ObjKind } from './objects';
import { PerfEvent } from './perf_event';
import { BpfProg } from './prog';
import { bpf_link_type } from '../uapi/bpf';

export class BpfLink extends BpfObject {
  constructor(
    id: number,
    readonly linkType: number,
    readonly attachType: number,
    public prog: BpfProg,
    readonly perfEvent: PerfEvent | null,
  ) {
    super(ObjKind.Link, id, linkType, '', 0);
    prog.acquire();
    perfEvent?.acquire();
  }

  protected onDestroy(): void {
    if (this.perfEvent) {
      if (this.perfEvent.prog === this.prog) this.perfEvent.setProg(null);
      this.perfEvent.release();
    }
    this.prog.release();
  }

  describe(): Record<string, unknown> {
    const type = Object.entries(bpf_link_type).find(([, v]) => v === this.linkType)?.[0] ?? String(this.linkType);
    return {
      id: this.id,
      type: type.replace(/^BPF_LINK_TYPE_/, '').toLowerCase(),
      prog_id: this.prog.id,
      perf_event: this.perfEvent?.id ?? null,
      refs: this.refcount,
    };
  }
}
