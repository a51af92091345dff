// Under the shim, no bpf() or perf_event_open() made by the tool reaches the kernel: strace
// follows the tool and reports every such system call that was really made.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, tmpRuntimeDir } from './harness';

const tool = path.join(root, 'examples', 'malloc', 'malloc');

test('the tool makes no bpf() or perf_event_open() system call', {
  skip: (!fs.existsSync(tool) && 'examples not built') || (!haveCommand('strace') && 'strace not installed'),
  timeout: 60000,
}, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  // A server started beforehand: strace -f would otherwise follow (and wait for) the one the
  // shim starts on its own.
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  try {
    await server.waitFor(/serving on/);
    const trace = path.join(dir, 'strace.out');
    const t = new Proc('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=bpf,perf_event_open',
      process.execPath, cli, 'load', tool, '-d', '1', '-i', '0.5'], env);
    await t.waitFor(/Tracing malloc/);
    assert.equal(await t.exited, 0, t.out);
    const calls = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => /\b(bpf|perf_event_open)\(/.test(l));
    assert.deepEqual(calls, [], 'system calls that reached the kernel');
    // And the tool did load and attach through the server.
    assert.match(server.out, /attaching #\d+ prog \d+/);
  } finally {
    await server.stop('SIGTERM');
  }
});
