// The kernel functions a kprobe or an fentry/fexit program can be put on here: the syscalls'
// entry functions, __x64_sys_<name>. A kernel calls one between the syscall's sys_enter and
// sys_exit tracepoints with the task's user registers as its argument, so the agents' syscall
// interception runs such probes (src-native/agent/syscall_tp.c).
import * as fs from 'fs';
import { TraceEvent } from './format';

/** The prefix of x86-64 syscall entry functions (the kernel's syscall wrappers). */
export const SYSCALL_FN_PREFIX = '__x64_sys_';

let kallsymsNames: Set<string> | null = null;

/** The __x64_sys_* names in /proc/kallsyms (names are listed to every user), read once. */
function kallsymsSyscallFunctions(): Set<string> {
  if (kallsymsNames) return kallsymsNames;
  kallsymsNames = new Set();
  let text = '';
  try {
    text = fs.readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return kallsymsNames; // no kallsyms: the tracepoints' functions only
  }
  for (const m of text.matchAll(/ [Tt] (__x64_sys_\w+)$/gm)) kallsymsNames.add(m[1]);
  return kallsymsNames;
}

/** The syscall events' entry functions, each with its syscall number, from the served events. */
export function syscallEntryFunctions(events: Iterable<TraceEvent>): Map<string, number> {
  const fns = new Map<string, number>();
  for (const e of events) {
    if (e.system === 'syscalls' && e.name.startsWith('sys_enter_') && e.nr >= 0) fns.set(SYSCALL_FN_PREFIX + e.name.slice('sys_enter_'.length), e.nr);
  }
  return fns;
}

/**
 * What a probe on kernel function fn is here: { nr } for a syscall's entry function; { nr: -1 }
 * for a syscall function the kernel has that no x86-64 syscall calls (`__x64_sys_stat`: stat is
 * newstat here), which a kernel probes and never runs (bcc's statsnoop probes it); undefined for
 * any other function (not offered).
 */
export function syscallOfFunction(entry: Map<string, number>, fn: string): { nr: number } | undefined {
  if (!fn.startsWith(SYSCALL_FN_PREFIX)) return undefined;
  const nr = entry.get(fn);
  if (nr !== undefined) return { nr };
  return kallsymsSyscallFunctions().has(fn) ? { nr: -1 } : undefined;
}

/** Test hook: forget the kallsyms names read. */
export function resetKallsymsCache(): void {
  kallsymsNames = null;
}
