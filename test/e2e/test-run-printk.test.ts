// bpf_printk from BPF_PROG_TEST_RUN reaches trace_pipe, as on the kernel: the server runs the
// program (in a forked child) and writes its text to the served pipe. The same program and
// reader (test/programs/test_run_printk.c) on the kernel give the reference output.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, isRoot, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const dir = path.join(root, 'test', 'programs');
const haveTools = haveCommand('clang') && haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

test('bpf_printk in a test run is written to trace_pipe (kernel as reference)', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const obj = path.join(out, 'test_run_printk.bpf.o');
  const bin = path.join(out, 'test_run_printk');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${multiarch}`, '-c', path.join(dir, 'test_run_printk.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(dir, 'test_run_printk.c'), '-lbpf']);

  const rt = tmpRuntimeDir();
  let shim;
  try {
    shim = spawnSync(bin, [obj], { env: { ...bpftimeEnv(rt), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 60000 });
  } finally {
    stopServer(rt);
  }
  assert.equal(shim.status, 0, shim.stdout + shim.stderr);
  assert.equal(
    shim.stdout,
    'run 1: ret=0 retval=20\nrun 2: ret=0 retval=40\nrun 3: ret=0 retval=60\n' +
      'trace: bpftime-test-run-printk 10\ntrace: bpftime-test-run-printk 20\ntrace: bpftime-test-run-printk 30\nlines: 3\n',
  );

  const kernel = isRoot && fs.existsSync('/sys/kernel/tracing/trace_pipe') ? spawnSync(bin, [obj], { encoding: 'utf8', timeout: 60000 }) : null;
  if (!kernel || kernel.status !== 0) {
    t.skip(`kernel path unavailable (${kernel ? (kernel.stdout || kernel.stderr).split('\n')[0] : 'not root or no tracefs'}): not compared`);
    return;
  }
  assert.equal(shim.stdout, kernel.stdout);
  fs.rmSync(out, { recursive: true, force: true });
});
