// A BTF object: the raw BTF a tool loaded, kept for info queries and tools like bpftool.
import { BpfObject, ObjKind } from './objects';

export class BpfBtf extends BpfObject {
  /** A kernel BTF object (vmlinux): what the kernel lists with kernel_btf = 1 and its name. */
  kernelName: string | null = null;

  constructor(id: number, readonly data: Buffer) {
    super(ObjKind.Btf, id, 0, '', data);
  }
  protected onDestroy(): void {}
  describe(): Record<string, unknown> {
    return { id: this.id, size: this.data.length, ...(this.kernelName ? { name: this.kernelName, kernel: true } : {}), refs: this.refcount };
  }
}
