// Legacy (text-defined) uprobe events: what writing to <tracefs>/uprobe_events does on Linux
// (kernel/trace/trace_uprobe.c, trace_probe.c, trace_dynevent.c). bcc creates its probes this way
// when the uprobe PMU refuses a probe:
//     p:uprobes/NAME PATH:0xOFF     r:uprobes/NAME PATH:0xOFF     -:uprobes/NAME
// then reads events/uprobes/NAME/id and opens a PERF_TYPE_TRACEPOINT perf event with that id.
// Each event gets an id, a format file and a line in uprobe_events and available_events, as on
// the kernel. Fetch arguments ("p:grp/ev /bin/bash:0x1234 arg1=%di:u64") are parsed as the kernel
// parses them (fetch_args.ts) and shape the event's fields and print fmt. A probe written under
// the name of an existing event is appended to it when it is of the same kind (entry or return)
// with the same arguments (names and types), as trace_uprobe.c's append_trace_uprobe() does: one
// event, one id, several places; otherwise EEXIST.
import * as fs from 'fs';
import * as path from 'path';
import { Errno, KernelError } from '../kernel/errno';
import { Field, TraceEvent } from './format';
import { FetchArg, argFields, parseFetchArgs } from './fetch_args';

export interface UprobeEvent extends TraceEvent {
  retprobe: boolean;
  /** The path as written (uprobe_events lists it so) and the file it names. */
  given: string;
  file: string;
  offset: bigint;
  refCtrOffset: bigint;
  /** Fetch arguments, as parsed (the listing shows them as written). */
  args: FetchArg[];
  /** Probes appended to the event after its first (each with the event's kind and arguments). */
  more: UprobeProbe[];
}

/** One probe of an event: where it fires (the path as written too: the listing shows it), and
 * its own arguments (the event's names and types; how each is fetched may differ). */
export interface UprobeProbe {
  given: string;
  file: string;
  offset: bigint;
  refCtrOffset: bigint;
  args: FetchArg[];
}

const MAX_EVENT_NAME_LEN = 64;
const WRITE_BUFSIZE = 4096; // the kernel parses each write in lines shorter than this
const COMMON: Field[] = [
  ['unsigned short common_type', 0, 2, 0],
  ['unsigned char common_flags', 2, 1, 0],
  ['unsigned char common_preempt_count', 3, 1, 0],
  ['int common_pid', 4, 4, 1],
];

export class UprobeEvents {
  /** In creation order (available_events lists them newest first). */
  private readonly events: UprobeEvent[] = [];
  /** Every probe, appended ones too, in creation order: uprobe_events lists them so. */
  private readonly probes: Array<{ event: UprobeEvent; probe: UprobeProbe }> = [];

  /**
   * @param firstId ids are taken from here up (above every static event's id), lowest free first
   * @param inUse whether a perf event is open on the event with this id
   * @param log where refusals of what the kernel would accept are explained
   */
  constructor(
    private readonly firstId: number,
    private readonly inUse: (id: number) => boolean,
    private readonly log: (msg: string) => void,
  ) {}

  list(): readonly UprobeEvent[] {
    return this.events;
  }

  byId(id: number): UprobeEvent | undefined {
    return this.events.find((e) => e.id === id);
  }

  byName(system: string, name: string): UprobeEvent | undefined {
    return this.events.find((e) => e.system === system && e.name === name);
  }

  /** The text of uprobe_events. */
  listing(): string {
    return this.probes.map(({ event: e, probe: p }) => `${e.retprobe ? 'r' : 'p'}:${e.system}/${e.name} ${p.given}:0x${p.offset.toString(16).padStart(16, '0')}${p.refCtrOffset ? `(0x${p.refCtrOffset.toString(16)})` : ''}${p.args.map((a) => ` ${a.name}=${a.body}`).join('')}\n`).join('');
  }

  /** open() with O_TRUNC: every event goes, unless one is in use (EBUSY, nothing removed). */
  clear(): void {
    if (this.events.some((e) => this.inUse(e.id))) throw new KernelError(Errno.EBUSY, 'a uprobe event is in use');
    this.events.length = 0;
    this.probes.length = 0;
  }

  /** write(): each line a command; lines before a failing one stay applied, as on the kernel.
   * Relative paths are the writer's (cwd of pid). Returns the bytes consumed. */
  write(data: Buffer, pid: number): number {
    const text = data.toString('latin1');
    for (const raw of text.split('\n')) {
      if (raw.length >= WRITE_BUFSIZE - 1) throw new KernelError(Errno.E2BIG, 'line too long');
      const hash = raw.indexOf('#');
      const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
      if (line) this.command(line, pid);
    }
    return data.length;
  }

  private command(line: string, pid: number): void {
    const argv = line.split(/\s+/);
    if (argv[0][0] === '-') return this.remove(argv);
    // trace_uprobe_create(): too few words or an unknown kind is -ECANCELED, reported as EINVAL.
    if (argv.length < 2 || (argv[0][0] !== 'p' && argv[0][0] !== 'r')) throw new KernelError(Errno.EINVAL, `bad uprobe command '${line}'`);
    let retprobe = argv[0][0] === 'r';
    const named = argv[0][1] === ':' ? argv[0].slice(2) : null; // "r5:x" names nothing, as there
    const target = argv[1];
    const colon = target.lastIndexOf(':');
    if (colon <= 0 || !/^\d/.test(target.slice(colon + 1))) throw new KernelError(Errno.EINVAL, `no offset in '${target}'`);
    const given = target.slice(0, colon);
    const file = resolve(given, pid); // the kernel looks the file up before parsing the rest
    let spec = target.slice(colon + 1);
    // PATH:OFFSET%return or PATH:OFFSET(REF_CTR_OFFSET), never both (the kernel's two suffix
    // checks each insist on ending the word)
    if (spec.includes('%') && spec.includes('(')) throw new KernelError(Errno.EINVAL, `bad suffix in '${target}'`);
    let refCtrOffset = 0n;
    const paren = spec.indexOf('(');
    if (paren >= 0) {
      const close = spec.indexOf(')', paren);
      if (close < 0) throw new KernelError(Errno.EINVAL, `unclosed reference counter offset in '${target}'`);
      if (close !== spec.length - 1) throw new KernelError(Errno.EINVAL, `text after the reference counter offset in '${target}'`);
      refCtrOffset = parseUlong(spec.slice(paren + 1, close), 'reference counter offset');
      spec = spec.slice(0, paren);
    }
    if (spec.endsWith('%return')) {
      if (retprobe) throw new KernelError(Errno.EINVAL, '%return on a return probe');
      retprobe = true;
      spec = spec.slice(0, -'%return'.length);
    }
    const offset = parseUlong(spec, 'offset');
    // The semaphore is a u16 (uprobe_register()).
    if (refCtrOffset & 1n) throw new KernelError(Errno.EINVAL, `reference counter offset 0x${refCtrOffset.toString(16)} is not aligned`);
    let system = 'uprobes';
    let name = named ?? '';
    if (named !== null) {
      const slash = named.indexOf('/');
      if (slash >= 0) {
        system = named.slice(0, slash);
        name = named.slice(slash + 1);
        checkName(system, 'group');
      } else if (named === '') {
        throw new KernelError(Errno.EINVAL, 'event name is not specified');
      }
    }
    if (name) checkName(name, 'event');
    else name = autoName(given, offset);
    // The arguments are parsed before the event is registered (a bad one wins over EEXIST).
    const args = parseFetchArgs(argv.slice(2), retprobe);
    const probe: UprobeProbe = { given, file, offset, refCtrOffset, args };
    const old = this.byName(system, name);
    if (old) return this.append(old, probe, retprobe);
    const fields: Field[] = retprobe
      ? [...COMMON, ['unsigned long __probe_func', 8, 8, 0], ['unsigned long __probe_ret_ip', 16, 8, 0]]
      : [...COMMON, ['unsigned long __probe_ip', 8, 8, 0]];
    const a = argFields(args, retprobe ? 24 : 16);
    const head = retprobe ? '(%lx <- %lx)' : '(%lx)';
    const recs = [...(retprobe ? ['REC->__probe_func', 'REC->__probe_ret_ip'] : ['REC->__probe_ip']), ...a.recs];
    const printFmt = `"${head}${a.fmt ? ' ' + a.fmt : ''}", ${recs.join(', ')}`;
    fields.push(...a.fields);
    const event: UprobeEvent = { system, name, id: this.freeId(), nr: -1, fields, printFmt, retprobe, given, file, offset, refCtrOffset, args, more: [] };
    this.events.push(event);
    this.probes.push({ event, probe });
  }

  /** append_trace_uprobe(): a probe under an existing event's name joins it when it is of the
   * same kind with the same arguments, and is not one of its places already; else EEXIST. */
  private append(e: UprobeEvent, probe: UprobeProbe, retprobe: boolean): void {
    const args = probe.args;
    const sameArgs = args.length === e.args.length &&
      args.every((a, i) => a.name === e.args[i].name && a.type === e.args[i].type && a.count === e.args[i].count);
    if (retprobe !== e.retprobe || !sameArgs) {
      throw new KernelError(Errno.EEXIST, `${e.system}/${e.name} exists with another kind or other arguments`);
    }
    if ([e, ...e.more].some((p) => p.file === probe.file && p.offset === probe.offset)) {
      throw new KernelError(Errno.EEXIST, 'there is already the exact same probe event');
    }
    if (this.inUse(e.id)) {
      // A perf event on it has its places already: a new one would not fire for it here.
      this.log(`uprobe_events: a probe appended to ${e.system}/${e.name} while a perf event uses it is not offered; refused with EBUSY`);
      throw new KernelError(Errno.EBUSY, `${e.system}/${e.name} is in use`);
    }
    e.more.push(probe);
    this.probes.push({ event: e, probe });
  }

  /** "-:[GROUP/]EVENT": every matching event, none if one is in use (EBUSY); ENOENT if none. */
  private remove(argv: string[]): void {
    if (argv[0][1] !== ':' || argv[0].length < 3) throw new KernelError(Errno.EINVAL, `bad removal '${argv.join(' ')}'`);
    const spec = argv[0].slice(2);
    const slash = spec.indexOf('/');
    const system = slash >= 0 ? spec.slice(0, slash) : null;
    const name = slash >= 0 ? spec.slice(slash + 1) : spec;
    const hits = this.events.filter((e) => e.name === name && (system === null || e.system === system));
    if (!hits.length) throw new KernelError(Errno.ENOENT, `no uprobe event ${spec}`);
    if (hits.some((e) => this.inUse(e.id))) throw new KernelError(Errno.EBUSY, `uprobe event ${spec} is in use`);
    for (const e of hits) this.events.splice(this.events.indexOf(e), 1);
    for (let i = this.probes.length - 1; i >= 0; i--) if (hits.includes(this.probes[i].event)) this.probes.splice(i, 1);
  }

  private freeId(): number {
    const taken = new Set(this.events.map((e) => e.id));
    let id = this.firstId;
    while (taken.has(id)) id++;
    return id;
  }
}

/** kstrtoul(s, 0): decimal, 0x hex or 0 octal, nothing else. */
function parseUlong(s: string, what: string): bigint {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(s);
  if (!m) throw new KernelError(Errno.EINVAL, `bad ${what} '${s}'`);
  const v = s.length > 1 && s[0] === '0' && s[1] !== 'x' && s[1] !== 'X' ? BigInt('0o' + s.slice(1)) : BigInt(s);
  if (v >= 1n << 64n) throw new KernelError(Errno.EINVAL, `${what} '${s}' is out of range`);
  return v;
}

/** is_good_name(): a C identifier, shorter than MAX_EVENT_NAME_LEN. */
function checkName(n: string, what: string): void {
  if (n.length >= MAX_EVENT_NAME_LEN) throw new KernelError(Errno.EINVAL, `${what} name is too long`);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new KernelError(Errno.EINVAL, `${what} name must follow the rules of C identifiers`);
}

/** The kernel's name for an unnamed probe: p_<file name up to its first . - or _>_0x<offset>. */
function autoName(given: string, offset: bigint): string {
  const tail = path.posix.basename(given).split(/[.\-_]/)[0];
  return `p_${tail}_0x${offset.toString(16)}`.slice(0, MAX_EVENT_NAME_LEN - 1);
}

/** kern_path() of the writer: ENOENT when absent, EINVAL when not a regular file. */
function resolve(given: string, pid: number): string {
  const abs = given.startsWith('/') ? given : `/proc/${pid}/cwd/${given}`;
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    throw new KernelError(Errno.ENOENT, `${given} does not exist`);
  }
  if (!fs.statSync(real).isFile()) throw new KernelError(Errno.EINVAL, `${given} is not a regular file`);
  return real;
}
