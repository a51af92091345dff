// A BTF object: the raw BTF a tool loaded, kept for info queries and tools like bpftool.
import { BpfObject, ObjKind } from './objects';

export class BpfBtf extends BpfObject {
  constructor(id: number, readonly data: Buffer) {
    super(ObjKind.Btf, id, 0, '', data);
  }
  protected onDestroy(): void {}
  describe(): Record<string, unknown> {
    return { id: this.id, size: this.data.length, refs: this.refcount };
  }
}
