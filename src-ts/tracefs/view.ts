// The tracefs and sysfs files tools read to find their probe points, served by the server so
// that they are the same whether or not a real tracefs is mounted (and need no root):
//   <tracefs>/events/{syscalls,raw_syscalls}/{enable,filter,<event>/{id,format,enable,filter,trigger}},
//   <tracefs>/available_events, <tracefs>/available_filter_functions (the syscalls' entry functions),
//   <tracefs>/uprobe_events (writable: legacy uprobe events, see uprobe_events.ts) and
//   <tracefs>/events/<group>/<event>/{id,format,enable,filter} of the events made there,
//   /sys/bus/event_source/devices/{uprobe,kprobe}/{type,format/*}
// where <tracefs> is /sys/kernel/tracing or /sys/kernel/debug/tracing.
import * as path from 'path';
import { TraceEvent, formatFile } from './format';
import { Pmu } from '../server/syscalls/perf';
import { UprobeEvents } from './uprobe_events';
import { syscallEntryFunctions, syscallOfFunction } from './syscall_functions';

const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];
const PMU_ROOT = '/sys/bus/event_source/devices';

export type ServedFile = { kind: 'file'; content: Buffer } | { kind: 'trace_pipe' } | { kind: 'missing' } | { kind: 'not-served' };

export class TracefsView {
  private readonly byName = new Map<string, TraceEvent>();
  private readonly byId = new Map<number, TraceEvent>();
  /** Events made by writing to uprobe_events; their ids follow the static events'. */
  readonly uprobes: UprobeEvents;

  constructor(
    events: TraceEvent[],
    private readonly pmus: { uprobe: Pmu; kprobe: Pmu },
    uprobeInUse: (id: number) => boolean = () => false,
    log: (msg: string) => void = () => {},
    /** The text of every event's trigger file on the kernel the snapshot was taken from (the
     * triggers it was built with), or null: no trigger files. */
    private readonly trigger: string | null = null,
  ) {
    for (const e of events) {
      this.byName.set(`${e.system}/${e.name}`, e);
      this.byId.set(e.id, e);
    }
    this.uprobes = new UprobeEvents(Math.max(0, ...this.byId.keys()) + 1, uprobeInUse, log);
  }

  static load(pmus: { uprobe: Pmu; kprobe: Pmu }, uprobeInUse?: (id: number) => boolean, log?: (msg: string) => void): TracefsView {
    // The snapshot stays in the source tree (dist/ has only compiled code).
    const file = path.resolve(__dirname, '..', '..', '..', 'src-ts', 'tracefs', 'syscall-events.json');
    const snapshot = JSON.parse(require('fs').readFileSync(file, 'utf8')) as { events: TraceEvent[]; trigger?: string };
    return new TracefsView(snapshot.events, pmus, uprobeInUse, log, snapshot.trigger ?? null);
  }

  /** Whether p is a served file that takes writes (uprobe_events). */
  static isWritable(p: string): boolean {
    const n = path.posix.normalize(p);
    return TRACEFS_ROOTS.some((r) => n === `${r}/uprobe_events`);
  }

  eventById(id: number): TraceEvent | undefined {
    return this.byId.get(id);
  }

  eventByName(system: string, name: string): TraceEvent | undefined {
    return this.byName.get(`${system}/${name}`);
  }

  /** Whether path is one of ours (served, or under a served directory and absent). */
  static isServedPath(p: string): boolean {
    const n = path.posix.normalize(p);
    return TRACEFS_ROOTS.some((r) => n === r || n.startsWith(r + '/')) || n.startsWith(PMU_ROOT + '/uprobe') || n.startsWith(PMU_ROOT + '/kprobe');
  }

  read(p: string): ServedFile {
    const n = path.posix.normalize(p);
    for (const root of TRACEFS_ROOTS) {
      if (n === root || n.startsWith(root + '/')) return this.readTracefs(n.slice(root.length + 1));
    }
    for (const [name, pmu] of Object.entries(this.pmus)) {
      const dir = `${PMU_ROOT}/${name}`;
      if (n === dir || n.startsWith(dir + '/')) return this.readPmu(n.slice(dir.length + 1), pmu);
    }
    return { kind: 'not-served' };
  }

  /** What access()/stat() see at p: a served file, a directory of the view, or nothing. */
  exists(p: string): 'file' | 'dir' | null {
    const n = path.posix.normalize(p);
    const quick = this.eventFileExists(n);
    if (quick !== null) return quick ? 'file' : null;
    const f = this.read(n);
    if (f.kind === 'file' || f.kind === 'trace_pipe') return 'file';
    for (const root of TRACEFS_ROOTS) {
      if (n === root || n === `${root}/events`) return 'dir';
      const m = n.startsWith(root + '/events/') ? n.slice(root.length + 8).split('/') : null;
      if (m && m.length === 1 && this.hasSystem(m[0])) return 'dir';
      if (m && m.length === 2 && this.byName.has(`${m[0]}/${m[1]}`)) return 'dir';
      if (m && m.length === 1 && this.uprobes.list().some((e) => e.system === m[0])) return 'dir';
      if (m && m.length === 2 && this.uprobes.byName(m[0], m[1])) return 'dir';
    }
    for (const name of Object.keys(this.pmus)) {
      const dir = `${PMU_ROOT}/${name}`;
      if (n === dir || n === `${dir}/format`) return 'dir';
    }
    return null;
  }

  /** The served tracefs path p as the directory tree tools list and stat: a directory with its
   * entries, a file, or the kernel's path-walk error (ENOENT; ENOTDIR below a file). Only the
   * tracefs roots: the PMU descriptions are files in the real sysfs. */
  node(p: string): { kind: 'dir'; entries: Array<{ name: string; dir: boolean }> } | { kind: 'file' } | { kind: 'missing' | 'notdir' } {
    const n = path.posix.normalize(p).replace(/(.)\/+$/, '$1');
    const root = TRACEFS_ROOTS.find((r) => n === r || n.startsWith(r + '/'));
    if (!root) return { kind: 'missing' };
    const rel = n.slice(root.length + 1);
    const parts = rel ? rel.split('/') : [];
    // a file on the way is not a directory, whatever follows it
    for (let i = 1; i < parts.length; i++) {
      if (this.exists(`${root}/${parts.slice(0, i).join('/')}`) === 'file') return { kind: 'notdir' };
    }
    const kind = this.exists(n);
    if (!kind) return { kind: 'missing' };
    if (kind === 'file') return p.endsWith('/') ? { kind: 'notdir' } : { kind: 'file' };
    const names: Array<{ name: string; dir: boolean }> = [];
    const files = (...xs: string[]) => xs.filter((x) => this.exists(`${n}/${x}`) === 'file').forEach((name) => names.push({ name, dir: false }));
    if (parts.length === 0) {
      files('available_events', 'available_filter_functions', 'kprobe_events', 'trace_pipe', 'uprobe_events');
      names.push({ name: 'events', dir: true });
    } else if (parts.length === 1) {
      const systems = new Set([...this.byName.values()].map((e) => e.system));
      for (const e of this.uprobes.list()) systems.add(e.system);
      for (const system of systems) names.push({ name: system, dir: true });
    } else if (parts.length === 2) {
      for (const e of this.byName.values()) if (e.system === parts[1]) names.push({ name: e.name, dir: true });
      for (const e of this.uprobes.list()) if (e.system === parts[1]) names.push({ name: e.name, dir: true });
      files('enable', 'filter');
    } else {
      files('enable', 'filter', 'format', 'id', 'trigger');
    }
    return { kind: 'dir', entries: names };
  }

  /** Modes as tracefs shows them: the root 0700, other directories 0755, files that take writes
   * (enable, filter, trigger, the probe lists) 0640, the rest 0440. */
  static modeOf(p: string, dir: boolean): number {
    const n = path.posix.normalize(p).replace(/(.)\/+$/, '$1');
    if (dir) return TRACEFS_ROOTS.includes(n) ? 0o700 : 0o755;
    return /\/(enable|filter|trigger|uprobe_events|kprobe_events)$/.test(n) ? 0o640 : 0o440;
  }

  /** Whether p is under a tracefs root (where directories are served too). */
  static inTracefs(p: string): boolean {
    const n = path.posix.normalize(p);
    return TRACEFS_ROOTS.some((r) => n === r || n === r + '/' || n.startsWith(r + '/'));
  }

  private readTracefs(rel: string): ServedFile {
    if (rel === 'trace_pipe') return { kind: 'trace_pipe' };
    // Legacy (text-defined) probes: bcc reads these before cleaning up after its probes, and
    // skips the clean-up when its event is not listed (those of the uprobe PMU never are).
    if (rel === 'uprobe_events') return file(this.uprobes.listing());
    if (rel === 'kprobe_events') return file('');
    // The functions a kprobe can be put on: here the syscalls' entry functions (bpftrace warns
    // about a kprobe on a function not listed; `bpftrace -l 'kprobe:*'` lists these)
    if (rel === 'available_filter_functions') return file([...this.entryFunctions().keys()].map((f) => `${f}\n`).join(''));
    if (rel === 'available_events') {
      // events made at run time first, newest first, as the kernel lists them
      const made = [...this.uprobes.list()].reverse().map((e) => `${e.system}:${e.name}\n`);
      const lines = [...this.byName.values()].map((e) => `${e.system}:${e.name}\n`);
      return file(made.join('') + lines.join(''));
    }
    // Every event has a trigger file (ftrace's event triggers: listed, not offered here)
    const t = /^events\/(\w+)\/(\w+)\/trigger$/.exec(rel);
    if (t && this.trigger !== null && (this.byName.has(`${t[1]}/${t[2]}`) || this.uprobes.byName(t[1], t[2]))) return file(this.trigger);
    const u = /^events\/(\w+)\/(\w+)\/(id|format|enable|filter)$/.exec(rel);
    const ue = u && this.uprobes.byName(u[1], u[2]);
    if (u && ue) {
      // enable and filter are ftrace's (nothing here enables them): "0" and "none" as there
      return file(u[3] === 'id' ? `${ue.id}\n` : u[3] === 'format' ? formatFile(ue) : u[3] === 'enable' ? '0\n' : 'none\n');
    }
    // A system's directory has enable and filter for all its events, as on the kernel (none
    // enabled here; the filter file's text is the kernel's for a system without filters)
    const sys = /^events\/(\w+)\/(enable|filter)$/.exec(rel);
    if (sys && (this.hasSystem(sys[1]) || this.uprobes.list().some((x) => x.system === sys[1]))) {
      return file(sys[2] === 'enable' ? '0\n' : SYSTEM_FILTER);
    }
    // Every kernel event has enable and filter beside id and format (listings show them)
    const m = /^events\/(\w+)\/(\w+)\/(id|format|enable|filter)$/.exec(rel);
    const e = m && this.byName.get(`${m[1]}/${m[2]}`);
    if (!m || !e) return { kind: 'missing' };
    return file(m[3] === 'id' ? `${e.id}\n` : m[3] === 'format' ? formatFile(e) : m[3] === 'enable' ? '0\n' : 'none\n');
  }

  private entryFns: Map<string, number> | null = null;
  /** The syscalls' entry functions, each with its number. */
  private entryFunctions(): Map<string, number> {
    return (this.entryFns ??= syscallEntryFunctions(this.byName.values()));
  }

  /** The syscall whose entry function fn is (kprobes, fentry/fexit), see syscall_functions.ts. */
  syscallOfFunction(fn: string): { nr: number } | undefined {
    return syscallOfFunction(this.entryFunctions(), fn);
  }

  private systems: Set<string> | null = null;
  private hasSystem(system: string): boolean {
    if (!this.systems) this.systems = new Set([...this.byName.values()].map((e) => e.system));
    return this.systems.has(system);
  }

  /** Whether one of a snapshot event's own files exists, without rendering it (listings and
   * stat ask for thousands): true or false for <tracefs>/events/<system>/<event>/<file>, null
   * for any other path. */
  private eventFileExists(n: string): boolean | null {
    const root = TRACEFS_ROOTS.find((r) => n.startsWith(r + '/events/'));
    if (!root) return null;
    const m = /^([^/]+)\/([^/]+)\/([^/]+)$/.exec(n.slice(root.length + 8));
    if (!m || !this.byName.has(`${m[1]}/${m[2]}`)) return null;
    return ['id', 'format', 'enable', 'filter'].includes(m[3]) || (m[3] === 'trigger' && this.trigger !== null);
  }

  private readPmu(rel: string, pmu: Pmu): ServedFile {
    switch (rel) {
      case 'type':
        return file(`${pmu.type}\n`);
      case 'format/retprobe':
        return file(`config:${pmu.retprobeBit}\n`);
      case 'format/ref_ctr_offset':
        return file('config:32-63\n');
      default:
        return { kind: 'missing' };
    }
  }
}

const SYSTEM_FILTER = '### global filter ###\n# Use this to set filters for multiple events.\n# Only events with the given fields will be affected.\n# If no events are modified, an error message will be displayed here\n';

function file(s: string): ServedFile {
  return { kind: 'file', content: Buffer.from(s) };
}
