// The kernel as oracle for which map types a program may pass to which helpers
// (check_map_func_compatibility): test/programs/map_func_compat.c loads each program of
// map_func_compat.bpf.c on its own with libbpf and prints the errno and the verifier's verdict
// line (`cannot pass map_type T into func bpf_NAME#ID`, `expected prog array map for tail
// call`): ring buffer and perf helpers given other maps, tail calls through a hash, push/pop on
// the wrong maps, lookups in prog and perf event arrays, a program's update of a map of maps,
// a map kept in a callee-saved register across a call, bpf_for_each_map_elem over maps it cannot
// walk (ENOTSUPP, `callback function not allowed for map`); and programs using maps rightly.
// Under the shim every line must be the kernel's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildLibbpfProgram, haveLibbpfTools as haveTools, runUnderShim } from './libbpf-program';

test('maps passed to helpers that cannot take them fail to load as on the kernel', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = buildLibbpfProgram('map_func_compat', out);
  const shim = runUnderShim(bin, [obj], true);
  assert.equal(shim.status, 0, shim.stdout + shim.stderr);
  assert.match(shim.stdout, /^ok_uses: loaded$/m);
  assert.match(shim.stdout, /^ringbuf_output_hash: Invalid argument: cannot pass map_type 1 into func bpf_ringbuf_output#130$/m);
  assert.match(shim.stdout, /^tail_call_hash: Invalid argument: expected prog array map for tail call$/m);
  assert.match(shim.stdout, /^update_map_of_maps: Invalid argument: cannot pass map_type 12 into func bpf_map_update_elem#2$/m);
  assert.match(shim.stdout, /^lookup_percpu_hash: Invalid argument: cannot pass map_type 1 into func bpf_map_lookup_percpu_elem#195$/m);
  assert.match(shim.stdout, /^for_each_hash: loaded$/m);
  assert.match(shim.stdout, /^for_each_prog_array: ENOTSUPP: callback function not allowed for map$/m);
  assert.equal(shim.stdout.split('\n').filter((l) => l.includes(': ENOTSUPP: callback function not allowed for map')).length, 3, shim.stdout);
  assert.match(shim.stdout, /^kept_across_call: Invalid argument: cannot pass map_type 1 into func bpf_ringbuf_output#130$/m);
  assert.equal(shim.stdout.split('\n').filter((l) => l.includes(': Invalid argument: ')).length, 14, shim.stdout);
  if (!assertSameOnKernel(t, bin, [obj], shim.stdout, 'ok_uses: loaded')) return;
  fs.rmSync(out, { recursive: true, force: true });
});
