// Pushes attachments to agents. An attachment exists while a perf event runs a program
// (program set and event enabled). Agents that match it (pid filter) receive it when it appears
// or when they connect, and a detach when it goes: no polling anywhere.
import { AttachKind, Msg, encodeAttach, encodeDetach, encodePerfSlot, encodeProgPush } from './protocol';
import { Client } from './client';
import { PerfEvent, SYSCALL_FUNCTION_PROBES } from '../kernel/perf_event';
import { BpfProg } from '../kernel/prog';
import { BpfMap } from '../kernel/map';
import { log } from './log';
import * as U from '../uapi/bpf';
import { isRingbuf, ringbufWakeFd } from './syscalls/ringbuf';

/** proto.h BPFTIME_ATTACH_WAITING: the agent's process has not mapped the binary (yet). */
export const ATTACH_WAITING = 2;

export interface AgentStatus {
  status: number; // 0 attached, -errno failed, 1 pending (sent, no answer yet), 2 waiting for the binary
  message: string;
}

export interface Attachment {
  id: number;
  /** The attach ids of the event's further places (morePlaces), one agent attachment each. */
  moreIds: number[];
  event: PerfEvent;
  prog: BpfProg;
  agents: Map<number, AgentStatus>; // by agent pid
}

/** Which perf buffer sits in which slot of a PERF_EVENT_ARRAY map, by map id and index. */
interface PerfSlot {
  mapId: number;
  index: number;
  event: PerfEvent;
}

/** Agents that were sent an attachment and have not answered yet. */
interface Pending {
  agents: Set<number>;
  done: () => void;
}

export class Attachments {
  private nextId = 1;
  private readonly byEvent = new Map<PerfEvent, Attachment>();
  private readonly agents = new Set<Client>();
  private readonly perfSlots = new Map<string, PerfSlot>();
  private readonly pending = new Map<number, Pending>();
  private collecting: Array<Promise<void>> | null = null;
  /** Attachments made while the current call was handled (beginCollect..endCollect). */
  private made: Attachment[] = [];
  /** Programs in prog array slots (how many slots hold each): every agent can run them. */
  private readonly tailProgs = new Map<BpfProg, number>();
  /** Maps stored in a map-in-map (by how many slots): every agent has them open. */
  private readonly innerMaps = new Map<BpfMap, number>();

  /** While a syscall is handled, the attachments it makes are collected: its answer waits until
   * the agents have installed them, so once the call returns the probe is live everywhere, as
   * on a kernel (bpftrace fires BEGIN right after attaching it). */
  beginCollect(): void {
    this.collecting = [];
    this.made = [];
  }

  /** The probes the last call attached that no traced process other than the caller's has:
   * nothing will hit them until one starts (a hint for the user, server.ts). */
  unreachedByLastCall(callerPid: number): Attachment[] {
    return this.made.filter((a) => a.event.spec.probe !== 'timer' && ![...a.agents.keys()].some((pid) => pid !== callerPid));
  }

  endCollect(): Array<Promise<void>> {
    const c = this.collecting ?? [];
    this.collecting = null;
    return c;
  }

  /** The MSG_TASK_LAYOUT payload (Kernel.taskLayout: computed from the kernel's BTF on first
   * use, which takes 0.1-0.2 s), and the agents that have it. An agent gets it before the first
   * program that can reach a task stand-in (needsTaskLayout), not when it connects: most tools
   * never call those helpers, and a cold start should not wait for a layout nobody reads. */
  taskLayout: () => Buffer = () => Buffer.alloc(0);
  private readonly haveLayout = new WeakSet<Client>();

  private ensureLayout(prog: BpfProg, c: Client): void {
    if (this.haveLayout.has(c) || !needsTaskLayout(prog)) return;
    this.haveLayout.add(c);
    c.send(Msg.TaskLayout, 0, this.taskLayout());
  }

  constructor() {
    PerfEvent.onChange = (e) => this.sync(e);
  }

  list(): Attachment[] {
    return [...this.byEvent.values()];
  }

  addAgent(c: Client): void {
    this.agents.add(c);
    for (const m of this.innerMaps.keys()) this.pushInnerMap(m, c);
    for (const p of this.tailProgs.keys()) this.pushProg(p, c);
    for (const sl of this.perfSlots.values()) this.pushSlot(sl, c);
    for (const a of this.byEvent.values()) this.push(a, c);
  }

  /** Every filled PERF_EVENT_ARRAY slot as [mapId, index, eventId, memfd, waitFd] runs, for
   * programs the server runs itself (BPF_PROG_TEST_RUN: bpftrace's BEGIN and END print this way). */
  perfSlotTable(): number[] {
    const out: number[] = [];
    for (const sl of this.perfSlots.values()) out.push(sl.mapId, sl.index, sl.event.id, sl.event.fd, sl.event.waitFd);
    return out;
  }

  /** A PERF_EVENT_ARRAY slot now holds `event` (or nothing): every agent learns it, since any
   * of them may run a program that outputs there. Filling a slot is answered (as an attachment
   * is) once every agent has it in its table, so an event that fires right after the tool's
   * map update returns finds the buffer, as on a kernel. */
  setPerfSlot(mapId: number, index: number, event: PerfEvent | null): void {
    const key = `${mapId}/${index}`;
    const old = this.perfSlots.get(key);
    if (event) {
      const sl = { mapId, index, event };
      this.perfSlots.set(key, sl);
      const id = this.nextId++;
      const sentTo = new Set<number>();
      for (const c of this.agents) if (this.pushSlot(sl, c, id)) sentTo.add(c.pid);
      if (this.collecting && sentTo.size) {
        this.collecting.push(new Promise<void>((done) => this.pending.set(id, { agents: sentTo, done })));
      }
    } else if (old) {
      this.perfSlots.delete(key);
      for (const c of this.agents) c.send(Msg.PerfSlot, 0, encodePerfSlot(mapId, index, old.event.id, false));
    }
  }

  /** A PROG_ARRAY slot now holds `prog` (bpf_tail_call may jump to it in any process): every
   * agent loads it, and the call that put it there is answered once they have (as an
   * attachment is), so the slot update is visible everywhere when the tool's call returns. */
  addTailProg(prog: BpfProg): void {
    const n = this.tailProgs.get(prog) ?? 0;
    this.tailProgs.set(prog, n + 1);
    if (n > 0) return; // in another slot already: every agent has it
    const sentTo = new Set<number>();
    const id = this.nextId++;
    for (const c of this.agents) if (this.pushProg(prog, c, id)) sentTo.add(c.pid);
    if (this.collecting && sentTo.size) {
      this.collecting.push(new Promise<void>((done) => this.pending.set(id, { agents: sentTo, done })));
    }
  }

  /** A map-in-map now stores `map`: every agent opens it (a program's lookup in the outer map
   * resolves the id there), and the tool's update is answered once they have. */
  addInnerMap(map: BpfMap): void {
    const n = this.innerMaps.get(map) ?? 0;
    this.innerMaps.set(map, n + 1);
    if (n > 0) return;
    const sentTo = new Set<number>();
    const id = this.nextId++;
    for (const c of this.agents) if (this.pushInnerMap(map, c, id)) sentTo.add(c.pid);
    if (this.collecting && sentTo.size) {
      this.collecting.push(new Promise<void>((done) => this.pending.set(id, { agents: sentTo, done })));
    }
  }

  /** A map-in-map let go of `map` (agents keep maps open for good). */
  removeInnerMap(map: BpfMap): void {
    const n = (this.innerMaps.get(map) ?? 0) - 1;
    if (n > 0) this.innerMaps.set(map, n);
    else this.innerMaps.delete(map);
  }

  /** A program push without a program (prog id 0): the map's memfd, and a ring buffer's
   * eventfd (programs that output into the inner ring must wake its consumer). */
  private pushInnerMap(map: BpfMap, c: Client, id = this.nextId++): boolean {
    const rings = isRingbuf(map) ? [map] : [];
    const msg = encodeProgPush(id, 0, [map.id], rings.map((m) => m.id));
    return c.send(Msg.Prog, 0, msg, [map.fd, ...rings.map(ringbufWakeFd)]);
  }

  /** A slot let go of `prog`; agents keep what they loaded (programs are cached for good). */
  removeTailProg(prog: BpfProg): void {
    const n = (this.tailProgs.get(prog) ?? 0) - 1;
    if (n > 0) this.tailProgs.set(prog, n);
    else this.tailProgs.delete(prog);
  }

  private pushProg(prog: BpfProg, c: Client, id = this.nextId++): boolean {
    this.ensureLayout(prog, c);
    const maps = prog.spec.maps;
    const rings = maps.filter(isRingbuf);
    const msg = encodeProgPush(id, prog.id, maps.map((m) => m.id), rings.map((m) => m.id));
    return c.send(Msg.Prog, 0, msg, [prog.fd, ...maps.map((m) => m.fd), ...rings.map(ringbufWakeFd)]);
  }

  /** Sends slot sl to agent c; pushId non-zero asks for its answer. True when sent. */
  private pushSlot(sl: PerfSlot, c: Client, pushId = 0): boolean {
    return c.send(Msg.PerfSlot, 0, encodePerfSlot(sl.mapId, sl.index, sl.event.id, true, pushId), [sl.event.fd, sl.event.waitFd]);
  }

  removeAgent(c: Client): void {
    this.agents.delete(c);
    for (const a of this.byEvent.values()) a.agents.delete(c.pid);
    for (const id of [...this.pending.keys()]) this.answered(id, c.pid);
  }

  private answered(attachId: number, pid: number): void {
    const p = this.pending.get(attachId);
    if (p && p.agents.delete(pid) && p.agents.size === 0) {
      this.pending.delete(attachId);
      p.done();
    }
  }

  result(c: Client, attachId: number, status: number, message: string): void {
    this.answered(attachId, c.pid);
    for (const a of this.byEvent.values()) {
      if (a.id !== attachId && !a.moreIds.includes(attachId)) continue;
      a.agents.set(c.pid, { status, message });
      if (status < 0) log(`agent ${c.pid} (${c.comm}) could not attach ${describe(a)}: ${message}`);
      else if (status === ATTACH_WAITING) {
        if (process.env.BPFTIME_DEBUG) log(`agent ${c.pid} (${c.comm}) waits for the binary of ${describe(a)}`);
      } else log(`agent ${c.pid} (${c.comm}) attached ${describe(a)}`);
    }
  }

  private sync(e: PerfEvent): void {
    const cur = this.byEvent.get(e);
    if (cur && (!e.active || cur.prog !== e.prog)) {
      this.byEvent.delete(e);
      for (const c of this.agents) {
        if (cur.agents.has(c.pid)) for (const id of [cur.id, ...cur.moreIds]) c.send(Msg.Detach, 0, encodeDetach(id));
      }
      log(`detached ${describe(cur)}`);
    }
    if (e.active && !this.byEvent.has(e)) {
      const id = this.nextId++;
      const moreIds = (e.spec.morePlaces ?? []).map(() => this.nextId++);
      const a: Attachment = { id, moreIds, event: e, prog: e.prog!, agents: new Map() };
      this.byEvent.set(e, a);
      if (this.collecting) this.made.push(a);
      log(`attaching ${describe(a)} to ${this.agents.size} agent(s)`);
      const sentTo = new Set<number>();
      for (const c of this.agents) if (this.push(a, c)) sentTo.add(c.pid);
      if (this.collecting && sentTo.size) {
        for (const i of [a.id, ...a.moreIds]) {
          this.collecting.push(new Promise<void>((done) => this.pending.set(i, { agents: new Set(sentTo), done })));
        }
      }
    }
  }

  /** Sends a to agent c if it concerns c's process; true when sent. */
  private push(a: Attachment, c: Client): boolean {
    const s = a.event.spec;
    if (s.pid !== -1 && s.pid !== c.pid) return false;
    if (s.probe === 'bpf_output') return false;
    // a syscall function no syscall calls: attached, and never runs (as on a kernel)
    if (SYSCALL_FUNCTION_PROBES.has(s.probe) && s.offset < 0n) return false;
    const maps = a.prog.spec.maps;
    const rings = maps.filter(isRingbuf);
    const places = [{ path: s.path, offset: s.offset, refCtrOffset: s.refCtrOffset }, ...(s.morePlaces ?? [])];
    a.agents.set(c.pid, { status: 1, message: 'sent' });
    this.ensureLayout(a.prog, c);
    let sent = true;
    places.forEach((place, i) => {
      const msg = encodeAttach({
        attachId: i === 0 ? a.id : a.moreIds[i - 1],
        kind:
          s.probe === 'uretprobe' ? AttachKind.Uretprobe
          : s.probe === 'tracepoint' ? AttachKind.SyscallTracepoint
          : s.probe === 'kprobe' ? AttachKind.SyscallKprobe
          : s.probe === 'kretprobe' ? AttachKind.SyscallKretprobe
          : s.probe === 'fentry' ? AttachKind.SyscallFentry
          : s.probe === 'fexit' ? AttachKind.SyscallFexit
          : s.probe === 'timer' ? AttachKind.Timer
          : AttachKind.Uprobe,
        offset: place.offset,
        refCtrOffset: place.refCtrOffset,
        cookie: a.event.cookie,
        pid: s.pid,
        progId: a.prog.id,
        path: place.path,
        tpId: s.tpId,
        mapIds: maps.map((m) => m.id),
        wakeMapIds: rings.map((m) => m.id),
      });
      sent = c.send(Msg.Attach, 0, msg, [a.prog.fd, ...maps.map((m) => m.fd), ...rings.map(ringbufWakeFd)]) && sent;
    });
    return sent;
  }
}

/** Helpers that hand a program a task_struct (or vm_area_struct) stand-in laid out as the
 * running kernel's: the task layout must be in the agent before such a program runs. kfunc calls
 * count too (which kfunc takes a task is not worth knowing here). */
const TASK_HELPERS = new Set([U.BPF_FUNC_get_current_task, U.BPF_FUNC_get_current_task_btf, U.BPF_FUNC_find_vma]);
const needsLayout = new WeakMap<BpfProg, boolean>();

export function needsTaskLayout(prog: BpfProg): boolean {
  let v = needsLayout.get(prog);
  if (v !== undefined) return v;
  v = false;
  const insns = prog.spec.insns;
  for (let off = 0; off + 8 <= insns.length; off += 8) {
    if (insns[off] !== (U.BPF_JMP | U.BPF_CALL)) continue;
    const src = insns[off + 1] >> 4;
    if (src === U.BPF_PSEUDO_KFUNC_CALL || (src === 0 && TASK_HELPERS.has(insns.readInt32LE(off + 4)))) {
      v = true;
      break;
    }
  }
  needsLayout.set(prog, v);
  return v;
}

function describe(a: Attachment): string {
  const s = a.event.spec;
  const more = (s.morePlaces ?? []).map((p) => `, ${p.path}+0x${p.offset.toString(16)}`).join('');
  const where = !SYSCALL_FUNCTION_PROBES.has(s.probe) ? `+0x${s.offset.toString(16)}`
    : s.offset >= 0n ? ` (syscall ${s.offset})` : ' (no syscall calls it: never runs)';
  return `#${a.id} prog ${a.prog.id} (${a.prog.name || 'anon'}) at ${s.probe}:${s.path}${where}${more}${s.pid >= 0 ? ` pid ${s.pid}` : ''}`;
}
