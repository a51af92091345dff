// The generated uapi modules must match what scripts/gen-uapi.js produces from
// the headers installed here, and carry the kernel's values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as bpf from '../../src-ts/uapi/bpf';
import * as perf from '../../src-ts/uapi/perf_event';
import * as ptrace from '../../src-ts/uapi/ptrace';

// dist/test/unit -> repository root (also works when run from the sources).
function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'scripts', 'gen-uapi.js'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

const ROOT = repoRoot();
const FILES = ['bpf.ts', 'perf_event.ts', 'ptrace.ts'];

function haveCompiler(): boolean {
  const cc = process.env.CC || 'cc';
  return spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0 &&
    fs.existsSync('/usr/include/linux/bpf.h');
}

test('committed uapi files are what the generator produces', { skip: haveCompiler() ? false : 'no C compiler or uapi headers' }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'uapi-test-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-uapi.js'), '--out', out], { stdio: 'pipe' });
    for (const f of FILES) {
      const want = fs.readFileSync(path.join(out, f), 'utf8');
      const have = fs.readFileSync(path.join(ROOT, 'src-ts', 'uapi', f), 'utf8');
      assert.ok(have === want, `src-ts/uapi/${f} is stale: run node scripts/gen-uapi.js`);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('bpf constants', () => {
  assert.equal(bpf.BPF_MAP_CREATE, 0);
  assert.equal(bpf.BPF_PROG_LOAD, 5);
  assert.equal(bpf.bpf_cmd.BPF_PROG_LOAD, 5);
  assert.equal(bpf.BPF_MAP_TYPE_HASH, 1);
  assert.equal(bpf.BPF_PROG_TYPE_KPROBE, 2);
  assert.equal(bpf.BPF_FUNC_map_lookup_elem, 1);
  assert.equal(bpf.BPF_ANY, 0);
  assert.equal(bpf.BPF_NOEXIST, 1);
  assert.equal(bpf.BPF_EXIST, 2);
  assert.equal(bpf.BPF_OBJ_NAME_LEN, 16);
  assert.equal(bpf.BPF_TAG_SIZE, 8);
  assert.equal(bpf.BPF_PSEUDO_MAP_FD, 1);
  // opcode macros compose as the kernel's do
  assert.equal(bpf.BPF_JMP | bpf.BPF_EXIT, 0x95);
  assert.equal(bpf.BPF_ALU64 | bpf.BPF_MOV | bpf.BPF_K, 0xb7);
});

test('bpf layouts', () => {
  assert.equal(bpf.sizeof.bpf_insn, 8);
  assert.deepEqual(bpf.bpf_insn.dst_reg, { off: 1, size: 1, bit: 0, bits: 4 });
  assert.deepEqual(bpf.bpf_insn.src_reg, { off: 1, size: 1, bit: 4, bits: 4 });
  assert.deepEqual(bpf.bpf_attr.map_create.map_type, { off: 0, size: 4 });
  assert.equal(bpf.bpf_attr.map_create.map_name.count, bpf.BPF_OBJ_NAME_LEN);
  assert.equal(bpf.bpf_attr.elem.value.off, bpf.bpf_attr.elem.next_key.off);
  assert.equal(bpf.bpf_attr.link_create.perf_event.bpf_cookie.size, 8);
  assert.equal(bpf.sizeof.bpf_attr % 8, 0);
});

test('perf_event constants and layouts', () => {
  assert.equal(perf.PERF_TYPE_TRACEPOINT, 2);
  assert.equal(perf.PERF_COUNT_SW_BPF_OUTPUT, 10);
  assert.equal(perf.PERF_RECORD_SAMPLE, 9);
  assert.equal(perf.PERF_FLAG_FD_CLOEXEC, 8);
  // _IOW('$', 8, __u32): dir write(1)<<30 | size 4<<16 | '$'<<8 | 8
  assert.equal(perf.PERF_EVENT_IOC_SET_BPF, (1 << 30) + (4 << 16) + (0x24 << 8) + 8);
  assert.equal(perf.PERF_EVENT_IOC_ENABLE, (0x24 << 8) + 0);
  assert.equal(perf.sizeof.perf_event_header, 8);
  assert.ok((Object.values(perf.PERF_ATTR_SIZE) as number[]).includes(perf.sizeof.perf_event_attr));
  assert.deepEqual(perf.perf_event_attr.disabled, { off: 40, size: 8, bit: 0, bits: 1 });
  assert.equal(perf.perf_event_attr.precise_ip.bits, 2);
  assert.equal(perf.perf_event_mmap_page.data_head.off, 1024);
});

test('pt_regs (x86-64)', { skip: process.arch === 'x64' ? false : 'x86-64 only' }, () => {
  assert.equal(ptrace.sizeof.pt_regs, 21 * 8);
  assert.equal(ptrace.pt_regs.rdi.off, 112);
});
