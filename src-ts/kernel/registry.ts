// Every live object, by kind and id (what *_GET_NEXT_ID / *_GET_FD_BY_ID see) and by memfd inode
// (how an fd a tool passes in is resolved: the shim sends the inode behind each of its fds).
import { BpfObject, IdAllocator, ObjKind } from './objects';

export class Registry {
  private readonly ids = new Map<ObjKind, IdAllocator>();
  private readonly byId = new Map<ObjKind, Map<number, BpfObject>>();
  private readonly byIno = new Map<bigint, BpfObject>();
  /** Called whenever an object goes away, so attachments can follow. */
  onRemove: (o: BpfObject) => void = () => {};

  allocId(kind: ObjKind): number {
    let a = this.ids.get(kind);
    if (!a) this.ids.set(kind, (a = new IdAllocator()));
    return a.alloc();
  }

  /** Gives back an id whose object could not be created. */
  freeId(kind: ObjKind, id: number): void {
    this.ids.get(kind)?.free(id);
  }

  add<T extends BpfObject>(o: T): T {
    let m = this.byId.get(o.kind);
    if (!m) this.byId.set(o.kind, (m = new Map()));
    m.set(o.id, o);
    this.byIno.set(o.ino, o);
    o.registry = this;
    return o;
  }

  remove(o: BpfObject): void {
    this.byId.get(o.kind)?.delete(o.id);
    this.byIno.delete(o.ino);
    this.ids.get(o.kind)?.free(o.id);
    this.onRemove(o);
  }

  get(kind: ObjKind, id: number): BpfObject | undefined {
    return this.byId.get(kind)?.get(id);
  }

  /** The smallest live id of that kind above `after` (idr_get_next() from after + 1). */
  nextId(kind: ObjKind, after: number): number | undefined {
    let best: number | undefined;
    for (const [id, o] of this.byId.get(kind) ?? []) {
      if (id > after && !o.destroyed && (best === undefined || id < best)) best = id;
    }
    return best;
  }

  byInode(ino: bigint): BpfObject | undefined {
    return this.byIno.get(ino);
  }

  all(kind?: ObjKind): BpfObject[] {
    if (kind !== undefined) return [...(this.byId.get(kind)?.values() ?? [])].sort((a, b) => a.id - b.id);
    return [...this.byIno.values()];
  }
}
