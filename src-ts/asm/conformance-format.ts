// Reader for the bpf_conformance `.data` test format: sections introduced by `-- NAME` lines.
//
//   -- asm       the program (assembler.ts syntax)
//   -- mem       input memory as hex bytes, whitespace separated, possibly over several lines
//   -- result    expected r0 (0x-hex or decimal)
//   -- error     expected failure text
//   -- raw       the program as 64-bit little-endian instruction words, one per token
//   -- c         the C source the program came from (informational)
//   -- <other>   e.g. "no register offset": informational notes, kept in `notes`
// Lines before the first section (licence headers, `#` comments) are ignored.

export interface ConformanceTest {
  asm: string;
  mem?: Buffer;
  result?: bigint;
  error?: string;
  raw?: bigint[];
  c?: string;
  notes: Record<string, string>;
}

export function parseConformanceFile(text: string): ConformanceTest {
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of text.split(/\r?\n/)) {
    const m = /^--\s*(.*?)\s*$/.exec(line);
    if (m) {
      current = [];
      sections.set(m[1].toLowerCase(), current);
    } else if (current) {
      current.push(line);
    }
  }

  const body = (name: string) => sections.get(name)?.join('\n');
  const tokens = (name: string) => (body(name) ?? '').split(/\s+/).filter(Boolean);
  const test: ConformanceTest = { asm: body('asm') ?? '', notes: {} };

  if (sections.has('mem')) {
    test.mem = Buffer.from(tokens('mem').map((t) => {
      if (!/^[0-9a-f]{1,2}$/i.test(t)) throw new Error(`bad byte "${t}" in -- mem`);
      return parseInt(t, 16);
    }));
  }
  if (sections.has('result')) {
    const t = tokens('result')[0];
    if (t === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(t)) throw new Error(`bad -- result "${t ?? ''}"`);
    test.result = BigInt(t);
  }
  if (sections.has('error')) test.error = body('error')!.trim();
  if (sections.has('raw')) test.raw = tokens('raw').map((t) => BigInt(t));
  if (sections.has('c')) test.c = body('c');
  for (const [name, lines] of sections) {
    if (!['asm', 'mem', 'result', 'error', 'raw', 'c'].includes(name)) test.notes[name] = lines.join('\n').trim();
  }
  return test;
}

/** Bytecode of a `-- raw` section. */
export function rawToBytecode(words: readonly bigint[]): Buffer {
  const buf = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, w), i * 8));
  return buf;
}
