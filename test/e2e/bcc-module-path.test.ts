// A bug of bcc 0.26 (Debian's libbcc, under bpftrace's ustack/usym and bcc's tools) that the shim
// absorbs: ProcSyms::ModulePath's destructor closes an uninitialised fd, at times one of the
// tool's BPF maps (test/programs/bcc_module_path_close.c). Under the shim that close is dropped
// and the map keeps working; any other close of the fd still closes it. The kernel run shows the
// program really makes the bug's call (its map fd is gone there).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { haveCommand, isRoot, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('a BPF map fd closed by bcc\'s ModulePath destructor stays open under the shim', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const bin = buildSyscallProgram('bcc_module_path_close', dir, ['-rdynamic']);
    const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
    assert.equal(shim.status, 0, shim.stderr);
    assert.equal(shim.stdout, [
      'create: ok', 'update: ok', 'lookup after ModulePath\'s close: 42', 'own close: ok', 'lookup after own close: EBADF', '',
    ].join('\n'));
    if (!isRoot) return t.diagnostic('kernel run skipped: not root');
    const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
    if (/^create: E/m.test(kernel.stdout)) return t.diagnostic(`kernel run skipped: ${kernel.stdout.trim()}`);
    assert.match(kernel.stdout, /^lookup after ModulePath's close: EBADF$/m);
  } finally {
    stopServer(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
