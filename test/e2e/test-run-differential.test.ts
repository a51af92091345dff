// The kernel as oracle for BPF_PROG_TEST_RUN: test/programs/test_run.c runs the programs of
// test/programs/test_run.bpf.c (SYSCALL, XDP, SCHED_CLS, SOCKET_FILTER, RAW_TRACEPOINT, and a
// tracepoint program, which has no test run) through libbpf's bpf_prog_test_run_opts with good
// and bad input (bad pointers, short buffers, repeat, flags, cpu, metadata, fragments) and
// prints every result. Under the shim, with the JIT and with the interpreter (BPFTIME_JIT=0), it
// must print exactly what it prints on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const dir = path.join(root, 'test', 'programs');

function build(out: string): { bin: string; obj: string } {
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const obj = path.join(out, 'test_run.bpf.o');
  const bin = path.join(out, 'test_run');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`,
    '-c', path.join(dir, 'test_run.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(dir, 'test_run.c'), '-lbpf', '-lelf', '-lz']);
  return { bin, obj };
}

function underShim(bin: string, args: string[], jit: boolean) {
  const rt = tmpRuntimeDir();
  const env = { ...bpftimeEnv(rt), LD_PRELOAD: shimLib, ...(jit ? {} : { BPFTIME_JIT: '0' }) };
  try {
    return spawnSync(bin, args, { env, encoding: 'utf8', timeout: 60000 });
  } finally {
    stopServer(rt);
  }
}

const haveTools = haveCommand('clang') && haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

test('BPF_PROG_TEST_RUN answers as the kernel does (JIT and interpreter)', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 180000 }, (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = build(out);
  const jit = underShim(bin, [obj], true);
  assert.equal(jit.status, 0, jit.stderr);
  assert.match(jit.stdout, /^loaded\n/);
  // Shim-only facts that hold whatever the kernel does.
  assert.match(jit.stdout, /^syscall: ret=0 errno=0 retval=0xc .*\n {2}args: sum=7 runs=1$/m);
  assert.match(jit.stdout, /^xdp data_size_out too small: ret=-28 errno=28 retval=0x10040 data_size_out=64 .* data=02000000000202000000$/m);
  assert.match(jit.stdout, /^tracepoint \(no test run\): ret=-524 errno=524/m);
  assert.match(jit.stdout, /^runs counted in \.bss: 0 \d+$/m);
  const interp = underShim(bin, [obj], false);
  assert.equal(interp.status, 0, interp.stderr);
  assert.deepEqual(interp.stdout.split('\n'), jit.stdout.split('\n'), 'interpreter and JIT disagree');

  const kernel = spawnSync(bin, [obj], { encoding: 'utf8', timeout: 60000 });
  if (kernel.status !== 0 || !kernel.stdout.startsWith('loaded')) {
    t.skip(`kernel path unavailable (${(kernel.stdout || kernel.stderr).split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(jit.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(out, { recursive: true, force: true });
});

test('a program that faults in a test run fails with EFAULT and the server keeps serving', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 60000 }, () => {
  const out = tmpRuntimeDir();
  const { bin } = build(out);
  for (const jit of [true, false]) {
    const r = underShim(bin, ['--fault'], jit);
    assert.equal(r.status, 0, r.stderr);
    // Our load-time checks are structural (the kernel's verifier refuses this program at load).
    assert.match(r.stdout, /^fault: load ok\nfault: run: ret=-14 errno=14 .*\nfault: next run: ret=0 errno=0 retval=0x2a data_size_out=64/m);
  }
  fs.rmSync(out, { recursive: true, force: true });
});
