// The kernel as oracle for dead-code elimination: test/programs/dead_code.bpf.c (clang, CO-RE
// checks on a field and a type that exist in no kernel, .rodata knobs, a loop) is loaded by
// libbpf on the kernel and under the shim, and the instructions each gives back
// (bpf_prog_info.xlated_prog_insns, printed by test/programs/dead_code_loader.c) must be the
// same: the same branches hard-wired, the same code removed, the poisoned read gone, and the
// same tag (the kernel hashes the program as loaded, before removing anything).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';
import { kernelToolsUsable } from './tools';

const progs = path.join(root, 'test', 'programs');
const skip = (!haveCommand('clang') || !haveCommand('cc') || !fs.existsSync('/usr/include/bpf/libbpf.h')) && 'needs clang, cc and libbpf-dev';

test('dead code is removed as the kernel removes it', { skip, timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const multiarch = execFileSync('cc', ['-print-multiarch']).toString().trim();
  const obj = path.join(dir, 'dead_code.bpf.o');
  const loader = path.join(dir, 'dead_code_loader');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`, '-c', path.join(progs, 'dead_code.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-o', loader, path.join(progs, 'dead_code_loader.c'), '-lbpf', '-lelf', '-lz']);

  const shim = spawnSync(loader, [obj], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stdout + shim.stderr);
  // Without the elimination the poisoned read (call 0xbad2310) would fail the load; with it,
  // missing_field is: call get_current_task, r1 = r0, r0 = 7, r2 = 0, exit.
  assert.match(shim.stdout, /^missing_field: 5 insns, tag [0-9a-f]{16}$/m);
  assert.doesNotMatch(shim.stdout, /imm 195896080/);

  const noKernel = kernelToolsUsable();
  if (noKernel) return t.skip(noKernel);
  const kernel = spawnSync(loader, [obj], { encoding: 'utf8', timeout: 30000 });
  if (kernel.status !== 0) return t.skip(`the kernel does not load it: ${kernel.stdout}${kernel.stderr}`);
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
