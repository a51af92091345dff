// The assembler's encoding constants (src-ts/asm/opcodes.ts) against <linux/bpf.h>, through
// the C compiler: the values re-exported from the generated uapi module, the field macros
// (BPF_CLASS & co., function-like so not generated) and the newer-uapi fallbacks (checked
// when the installed header has them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as O from '../../src-ts/asm/opcodes';
import { repoRoot } from '../conformance/vectors';

const CC = process.env.CC || 'cc';
const haveCompiler = spawnSync(CC, ['--version'], { stdio: 'ignore' }).status === 0 && fs.existsSync('/usr/include/linux/bpf.h');

const NAMES = [
  'BPF_LD', 'BPF_LDX', 'BPF_ST', 'BPF_STX', 'BPF_ALU', 'BPF_JMP', 'BPF_JMP32', 'BPF_ALU64',
  'BPF_W', 'BPF_H', 'BPF_B', 'BPF_DW', 'BPF_IMM', 'BPF_ABS', 'BPF_IND', 'BPF_MEM', 'BPF_ATOMIC',
  'BPF_ADD', 'BPF_SUB', 'BPF_MUL', 'BPF_DIV', 'BPF_OR', 'BPF_AND', 'BPF_LSH', 'BPF_RSH', 'BPF_NEG', 'BPF_MOD',
  'BPF_XOR', 'BPF_MOV', 'BPF_ARSH', 'BPF_END', 'BPF_TO_LE', 'BPF_TO_BE',
  'BPF_JA', 'BPF_JEQ', 'BPF_JGT', 'BPF_JGE', 'BPF_JSET', 'BPF_JNE', 'BPF_JSGT', 'BPF_JSGE', 'BPF_JLT', 'BPF_JLE',
  'BPF_JSLT', 'BPF_JSLE', 'BPF_CALL', 'BPF_EXIT', 'BPF_K', 'BPF_X', 'BPF_FETCH', 'BPF_XCHG', 'BPF_CMPXCHG',
  'BPF_PSEUDO_CALL', 'BPF_PSEUDO_KFUNC_CALL',
];
// Newer than Linux 6.1's uapi: compared only if the installed header defines them.
const NEWER = ['BPF_MEMSX', 'BPF_JCOND', 'BPF_LOAD_ACQ', 'BPF_STORE_REL'];
const MACROS: [string, (c: number) => number][] = [
  ['BPF_CLASS', O.bpfClass], ['BPF_SIZE', O.bpfSize], ['BPF_MODE', O.bpfMode], ['BPF_OP', O.bpfOp], ['BPF_SRC', O.bpfSrc],
];

test('encoding constants match <linux/bpf.h> and the interpreter', { skip: haveCompiler ? false : 'no C compiler or uapi headers' }, () => {
  const lines = [
    '#include <stdio.h>',
    '#include <linux/bpf.h>',
    'static void header(void) {',
    ...NAMES.map((n) => `printf("${n} %d\\n", (int)(${n}));`),
    ...NEWER.map((n) => `#ifdef ${n}\nprintf("${n} %d\\n", (int)(${n}));\n#endif`),
    'for (int c = 0; c < 256; c++)',
    `  printf("codes %d ${MACROS.map(() => '%d').join(' ')}\\n", c, ${MACROS.map(([m]) => `${m}(c)`).join(', ')});`,
    '}',
    // What the interpreter uses for the newer names: the header's value or its own fallback.
    '#include "insn_defs.h"',
    'static void native(void) {',
    ...NEWER.map((n) => `printf("native ${n} %d\\n", (int)(${n}));`),
    'printf("native BPF_MAY_GOTO %d\\n", (int)BPFTIME_MAY_GOTO);',
    '}',
    'int main(void) { header(); native(); return 0; }',
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-enc-'));
  try {
    fs.writeFileSync(path.join(dir, 'enc.c'), lines.join('\n'));
    execFileSync(CC, ['-I', path.join(repoRoot(), 'src-native', 'core', 'vm'), '-o', path.join(dir, 'enc'), path.join(dir, 'enc.c')],
      { stdio: 'pipe' });
    const out = execFileSync(path.join(dir, 'enc'), { encoding: 'utf8' }).trim().split('\n');
    const consts = O as unknown as Record<string, number>;
    let macroRows = 0, nativeRows = 0;
    for (const line of out) {
      const words = line.split(' ');
      if (words[0] === 'codes') {
        const nums = words.slice(1).map(Number);
        MACROS.forEach(([m, f], k) => assert.equal(f(nums[0]), nums[k + 1], `${m}(${nums[0]})`));
        macroRows++;
      } else if (words[0] === 'native') {
        assert.equal(consts[words[1]], Number(words[2]), `${words[1]}: opcodes.ts and insn_defs.h disagree`);
        nativeRows++;
      } else {
        assert.equal(consts[words[0]], Number(words[1]), words[0]);
      }
    }
    assert.equal(macroRows, 256);
    assert.equal(nativeRows, NEWER.length + 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('newer-uapi fallbacks have their upstream values', () => {
  // Values of the Linux 6.6 (BPF_MEMSX), 6.9 (BPF_JCOND, BPF_MAY_GOTO) and 6.15
  // (load-acquire / store-release) uapi headers.
  assert.equal(O.BPF_MEMSX, 0x80);
  assert.equal(O.BPF_JCOND, 0xe0);
  assert.equal(O.BPF_MAY_GOTO, 0);
  assert.equal(O.BPF_LOAD_ACQ, 0x100);
  assert.equal(O.BPF_STORE_REL, 0x110);
});
