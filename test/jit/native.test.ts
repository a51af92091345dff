// The native side of the JIT as the agent will use it: test/jit/jit_load_test.c, built against
// src-native/core like test/native/run.sh builds its tests, loads a blob made here by
// src-ts/jit (map relocations included) with real maps and helpers. Skips without gcc or off
// x86-64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { assemble } from '../../src-ts/asm/assembler';
import { decodeInsns } from '../../src-ts/asm/insn';
import { compile, jitBlob, INSN_RELOC_MAP_PTR, INSN_RELOC_MAP_VALUE } from '../../src-ts/jit';
import { repoRoot } from '../conformance/vectors';
import { JIT_HOST } from './engines';

const root = repoRoot();

function hasGcc(): boolean {
  return spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;
}

const skip = !JIT_HOST ? `the JIT emits x86-64; this host is ${process.arch}` : !hasGcc() ? 'gcc not found' : false;

test('JIT blob loaded natively with real maps, helpers, W^X', { skip }, () => {
  const code = assemble(`
    stw [%r10-4], 0
    lddw %r1, 0            # map 5 (handle)
    mov %r2, %r10
    add %r2, -4
    call 1                 # bpf_map_lookup_elem
    jeq %r0, 0, fail
    ldxdw %r1, [%r0]
    add %r1, 1
    stxdw [%r0], %r1
    lddw %r3, 0            # map 5, value + 8
    stdw [%r3], 77
    mov %r0, %r1
    exit
  fail:
    mov %r0, -1
    exit`);
  const lddws = decodeInsns(code).flatMap((x, i) => (x.code === 0x18 ? [i] : []));
  const out = compile(code, { relocs: [
    { insnIdx: lddws[0], kind: INSN_RELOC_MAP_PTR, mapId: 5, off: 0 },
    { insnIdx: lddws[1], kind: INSN_RELOC_MAP_VALUE, mapId: 5, off: 8 },
  ] });
  assert.ok(out.ok, JSON.stringify(out));

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-jit-native-'));
  try {
    const blob = path.join(dir, 'prog.jit');
    fs.writeFileSync(blob, jitBlob(out));
    const exe = path.join(dir, 'jit_load_test');
    const core = execFileSync('find', [path.join(root, 'src-native/core'), '-name', '*.c'], { encoding: 'utf8' }).trim().split('\n').sort();
    execFileSync('gcc', ['-std=gnu11', '-D_GNU_SOURCE', '-O0', '-Wall', '-Wno-unused-parameter',
      `-I${path.join(root, 'src-native/include')}`, path.join(root, 'test/jit/jit_load_test.c'), ...core,
      '-lpthread', '-ldl', '-lm', '-o', exe], { stdio: 'pipe', timeout: 120_000 });
    const run = spawnSync(exe, [blob], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /^\d+ passed, 0 failed$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
