// One thread of a tool waits in a long BPF_PROG_TEST_RUN while another makes 1000
// BPF_MAP_GET_NEXT_ID and 1000 BPF_OBJ_GET_INFO_BY_FD calls (test/programs/test_run_concurrent.c):
// on a kernel each thread is in its own syscall, so the fast calls all finish while the run goes
// on. Under the shim both calls share the process's one connection, tagged by sequence number;
// the output must be the kernel's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, haveCommand, root, shimLib, withServer } from './harness';

const haveTools = haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

async function run(bin: string, env: NodeJS.ProcessEnv | null): Promise<string> {
  const p = new Proc(bin, [], env ? { ...env, LD_PRELOAD: shimLib } : process.env);
  const timer = setTimeout(() => p.killGroup(), 60000); // a fast thread stuck behind the run
  try {
    assert.equal(await p.exited, 0, p.out);
    return p.out;
  } finally {
    clearTimeout(timer);
    p.killGroup();
  }
}

test("another thread's bpf() calls finish while a test run goes on, as on the kernel", { skip: !haveTools && 'needs cc and libbpf-dev', timeout: 180000 }, async (t) => {
  const out = fs.mkdtempSync(path.join(root, 'dist', 'test-run-conc-'));
  const bin = path.join(out, 'test_run_concurrent');
  try {
    execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(root, 'test', 'programs', 'test_run_concurrent.c'), '-lbpf', '-lpthread']);
    let shim = '';
    await withServer(async (env) => {
      shim = await run(bin, env);
    });
    assert.equal(shim, 'fast: next_id ok=1000 info ok=1000 run still going=1\nlong: ret=-4 errno=4 (Interrupted system call)\n');
    if (process.getuid?.() !== 0) {
      t.skip('kernel BPF needs root: shim output not compared');
      return;
    }
    const kernel = await run(bin, null);
    if (/load failed/.test(kernel)) {
      t.skip('kernel BPF unavailable: shim output not compared');
      return;
    }
    assert.equal(shim, kernel);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
