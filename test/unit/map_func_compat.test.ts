// check_map_func_compatibility as src-ts/verifier/map_func_compat.ts applies it: the two-way
// table, and the maps the reachability pass sees reach each helper's map argument (directly, in
// a callee-saved register across a call, or different maps on two paths, where nothing is
// refused). The kernel's verdicts for clang-compiled programs are compared in
// test/e2e/map-func-compat-differential.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as U from '../../src-ts/uapi/bpf';
import { encodeInsns, insn as asmInsn } from '../../src-ts/asm';
import { findReachable } from '../../src-ts/verifier/reachability';
import { MapFuncChecker, mapFuncCompatible } from '../../src-ts/verifier/map_func_compat';

const insn = (code: number, dst: number, src: number, off: number, imm: number): Buffer => encodeInsns([asmInsn(code, dst, src, off, imm)]);
const ldMap = (dst: number, id: number) => [insn(U.BPF_LD | U.BPF_IMM | U.BPF_DW, dst, U.BPF_PSEUDO_MAP_FD, 0, id), insn(0, 0, 0, 0, 0)];
const call = (id: number) => insn(U.BPF_JMP | U.BPF_CALL, 0, 0, 0, id);
const mov = (dst: number, src: number) => insn(U.BPF_ALU64 | U.BPF_MOV | U.BPF_X, dst, src, 0, 0);
const movImm = (dst: number, imm: number) => insn(U.BPF_ALU64 | U.BPF_MOV | U.BPF_K, dst, 0, 0, imm);
const exit = () => insn(U.BPF_JMP | U.BPF_EXIT, 0, 0, 0, 0);

const TYPES: Record<number, number> = {
  1: U.BPF_MAP_TYPE_HASH, 2: U.BPF_MAP_TYPE_RINGBUF, 3: U.BPF_MAP_TYPE_PROG_ARRAY, 4: U.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 5: U.BPF_MAP_TYPE_RINGBUF,
};

function verdict(parts: Buffer[]): string | null {
  const checker = new MapFuncChecker((id) => TYPES[id]);
  const prog = Buffer.concat(parts);
  const { seen } = findReachable(prog, { onHelperCall: checker.onHelperCall });
  return checker.refusal(seen)?.log ?? null;
}

test('the two-way table', () => {
  assert.ok(mapFuncCompatible(U.BPF_MAP_TYPE_RINGBUF, U.BPF_FUNC_ringbuf_output));
  assert.ok(!mapFuncCompatible(U.BPF_MAP_TYPE_HASH, U.BPF_FUNC_ringbuf_output)); // the helper's side
  assert.ok(!mapFuncCompatible(U.BPF_MAP_TYPE_RINGBUF, U.BPF_FUNC_map_lookup_elem)); // the map's side
  assert.ok(mapFuncCompatible(U.BPF_MAP_TYPE_HASH, U.BPF_FUNC_map_lookup_elem));
  assert.ok(mapFuncCompatible(U.BPF_MAP_TYPE_ARRAY_OF_MAPS, U.BPF_FUNC_map_lookup_elem));
  assert.ok(!mapFuncCompatible(U.BPF_MAP_TYPE_ARRAY_OF_MAPS, U.BPF_FUNC_map_update_elem));
  assert.ok(mapFuncCompatible(U.BPF_MAP_TYPE_BLOOM_FILTER, U.BPF_FUNC_map_peek_elem));
  assert.ok(!mapFuncCompatible(U.BPF_MAP_TYPE_BLOOM_FILTER, U.BPF_FUNC_map_pop_elem));
  assert.ok(mapFuncCompatible(U.BPF_MAP_TYPE_PERCPU_HASH, U.BPF_FUNC_map_lookup_percpu_elem));
  assert.ok(!mapFuncCompatible(U.BPF_MAP_TYPE_HASH, U.BPF_FUNC_map_lookup_percpu_elem));
  assert.ok(mapFuncCompatible(U.BPF_MAP_TYPE_HASH, U.BPF_FUNC_for_each_map_elem));
});

test('a map loaded into the helper argument is checked, with the kernel verdict', () => {
  assert.equal(verdict([...ldMap(1, 1), call(U.BPF_FUNC_ringbuf_output), exit()]),
    '2: (85) call bpf_ringbuf_output#130\ncannot pass map_type 1 into func bpf_ringbuf_output#130');
  assert.equal(verdict([...ldMap(1, 2), call(U.BPF_FUNC_ringbuf_output), exit()]), null);
  assert.equal(verdict([...ldMap(1, 3), call(U.BPF_FUNC_map_lookup_elem), exit()]),
    '2: (85) call bpf_map_lookup_elem#1\ncannot pass map_type 3 into func bpf_map_lookup_elem#1');
  // perf_event_output and tail_call take the map in r2; r1 is the context
  assert.equal(verdict([...ldMap(2, 4), call(U.BPF_FUNC_perf_event_output), exit()]), null);
  assert.match(verdict([...ldMap(2, 2), call(U.BPF_FUNC_perf_event_output), exit()])!, /cannot pass map_type 27 into func bpf_perf_event_output#25$/);
  assert.match(verdict([...ldMap(2, 1), call(U.BPF_FUNC_tail_call), exit()])!, /\nexpected prog array map for tail call$/);
});

test('bpf_for_each_map_elem walks arrays and hash maps only: ENOTSUPP for the rest', () => {
  const checker = new MapFuncChecker((id) => TYPES[id]);
  const prog = Buffer.concat([...ldMap(1, 3), call(U.BPF_FUNC_for_each_map_elem), exit()]);
  const { seen } = findReachable(prog, { onHelperCall: checker.onHelperCall });
  assert.deepEqual(checker.refusal(seen), { insn: 2, errno: 524, log: '2: (85) call bpf_for_each_map_elem#164\ncallback function not allowed for map' });
  assert.equal(verdict([...ldMap(1, 1), call(U.BPF_FUNC_for_each_map_elem), exit()]), null);
});

test('a map kept in r6 across a call is still known; one clobbered, or dead code, is not judged', () => {
  assert.match(verdict([...ldMap(6, 1), call(U.BPF_FUNC_get_prandom_u32), mov(1, 6), call(U.BPF_FUNC_ringbuf_query), exit()])!,
    /^4: .*\ncannot pass map_type 1 into func bpf_ringbuf_query#134$/);
  // r1 clobbered by the first call: unknown at the second
  assert.equal(verdict([...ldMap(1, 1), call(U.BPF_FUNC_get_prandom_u32), call(U.BPF_FUNC_ringbuf_query), exit()]), null);
  // two paths, two ring buffers: both fit, nothing refused
  const jeq = insn(U.BPF_JMP | U.BPF_JEQ | U.BPF_K, 0, 0, 3, 0);
  const ja = insn(U.BPF_JMP | U.BPF_JA, 0, 0, 2, 0);
  assert.equal(verdict([call(U.BPF_FUNC_get_prandom_u32), jeq, ...ldMap(1, 5), ja, ...ldMap(1, 2), call(U.BPF_FUNC_ringbuf_query), movImm(0, 0), exit()]), null);
  // dead code is not judged
  const ja2 = insn(U.BPF_JMP | U.BPF_JA, 0, 0, 3, 0);
  assert.equal(verdict([ja2, ...ldMap(1, 1), call(U.BPF_FUNC_ringbuf_query), movImm(0, 0), exit()]), null);
});
