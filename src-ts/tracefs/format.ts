// The text of a tracepoint's `format` file, from the fields the snapshot keeps
// (scripts/gen-tracefs.js checks that this gives back the kernel's text exactly).
export type Field = [decl: string, offset: number, size: number, signed: number];

export interface TraceEvent {
  system: string;
  name: string;
  id: number;
  nr: number; // syscall number; -1 for raw_syscalls (every syscall)
  fields: Field[];
  printFmt: string;
}

const COMMON_FIELDS = 4; // common_type, common_flags, common_preempt_count, common_pid

export function formatFile(e: TraceEvent): string {
  const line = (f: Field) => `\tfield:${f[0]};\toffset:${f[1]};\tsize:${f[2]};\tsigned:${f[3]};\n`;
  return (
    `name: ${e.name}\nID: ${e.id}\nformat:\n` +
    e.fields.slice(0, COMMON_FIELDS).map(line).join('') +
    '\n' +
    e.fields.slice(COMMON_FIELDS).map(line).join('') +
    `\nprint fmt: ${e.printFmt}\n`
  );
}
