// The shim reads the tool's memory with a recoverable copy (a SIGSEGV handler in front of the
// tool's): bad pointers are EFAULT, and the tool's own faults still reach its own handler or the
// default action, exactly as without the shim.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

test('bad pointers are EFAULT; the tool keeps its own SIGSEGV handling', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, () => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'fault_chain');
  execFileSync('cc', ['-O1', '-o', bin, path.join(root, 'test', 'programs', 'fault_chain.c')]);
  const env = { ...bpftimeEnv(dir), LD_PRELOAD: shimLib };
  try {
    const withHandler = spawnSync(bin, ['with-handler'], { env, encoding: 'utf8', timeout: 30000 });
    assert.equal(withHandler.stdout, 'lookup bad pointer: -1 Bad address\nhandler\n');
    assert.equal(withHandler.status, 3);
    const without = spawnSync(bin, [], { env, encoding: 'utf8', timeout: 30000 });
    assert.equal(without.stdout, 'lookup bad pointer: -1 Bad address\n');
    assert.equal(without.signal, 'SIGSEGV');
  } finally {
    stopServer(dir);
  }
});
