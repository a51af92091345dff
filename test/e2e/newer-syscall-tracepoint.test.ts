// A syscall newer than the build's uapi headers (fchmodat2, 6.6) traced through its tracepoints:
// the served tracefs has its events (numbered from src-ts/uapi/syscalls_newer.ts), stock bpftrace
// reads their id and format, and the agent runs the programs at the syscall's entry and exit in
// a workload that calls it: the same lines as bpftrace prints on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildC, kernelToolsUsable, runWorkload, waitLines } from './tools';

const WORKLOAD = `#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "${path.resolve(__dirname, '..', '..', '..', 'src-native', 'include', 'bpftime', 'unistd_newer.h')}"
int main(int argc, char **argv)
{
	long a = syscall(SYS_fchmodat2, AT_FDCWD, argv[1], 0640, 0);
	long b = syscall(SYS_fchmodat2, AT_FDCWD, argv[1], 0600, AT_SYMLINK_NOFOLLOW);
	long c = syscall(SYS_fchmodat2, AT_FDCWD, "/nonexistent-fchm2", 0600, 0);
	printf("done %ld %ld %ld\\n", a, b, c);
	return 0;
}
`;

const program = `BEGIN { printf("ready\\n"); } ` +
  `tracepoint:syscalls:sys_enter_fchmodat2 /comm == "fchm2wl"/ { printf("enter mode %o flags %d\\n", args->mode, args->flags); } ` +
  `tracepoint:syscalls:sys_exit_fchmodat2 /comm == "fchm2wl"/ { printf("exit %d\\n", args->ret); }`;

const expected = ['enter mode 640 flags 0', 'exit 0', 'enter mode 600 flags 256', 'exit 0', 'enter mode 600 flags 0', 'exit -2'];

async function observe(tool: Proc, run: () => void): Promise<string[]> {
  try {
    await tool.waitFor(/^ready$/m, 30000);
    run();
    return await waitLines(tool, /^(enter|exit) /, expected.length);
  } finally {
    await tool.stop('SIGINT');
  }
}

test('a syscall newer than the uapi headers is traced at its tracepoints as on the kernel (bpftrace)', { skip: (!haveCommand('bpftrace') || !haveCommand('cc')) && 'needs bpftrace and cc', timeout: 120000 }, async (t) => {
  const bin = buildC('fchm2wl', WORKLOAD); // its name is the comm the program filters on
  const target = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fchm2-')), 'f');
  fs.writeFileSync(target, '');
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  try {
    const ours = await observe(new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', program], env), () => {
      const r = runWorkload(env, [bin, target]);
      assert.match(r.out, /done 0 0 -1/);
    });
    assert.deepEqual(ours.map((l) => l.replace(/\r$/, '')), expected);
  } finally {
    stopServer(dir);
  }
  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const kernel = await observe(new Proc('bpftrace', ['-e', program], process.env), () => runWorkload(undefined, [bin, target]));
  assert.deepEqual(kernel.map((l) => l.replace(/\r$/, '')), expected, 'the kernel prints the same');
});
