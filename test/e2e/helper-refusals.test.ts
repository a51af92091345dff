// Which program types may call which helpers, with the kernel as oracle:
// test/programs/helpers/helper_refusals.c loads tiny programs with raw bpf() and prints each
// load's errno and the verifier's verdict line; the shim must print what the kernel prints.
// Under the shim it also checks bpf_override_return at a uprobe on itself (works) and on a
// uretprobe (EINVAL), which a kernel refuses at load.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const src = path.join(root, 'test', 'programs', 'helpers', 'helper_refusals.c');

test('helpers are refused for the program types the kernel refuses them', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'helper_refusals');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
  const shim = spawnSync(bin, ['--bpftime'], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  const lines = shim.stdout.split('\n');
  for (const l of [
    'kprobe get_func_arg: EINVAL (program of this type cannot use helper bpf_get_func_arg#183)',
    'kprobe copy_from_user: EINVAL (helper call might sleep in a non-sleepable prog)',
    'tracepoint override_return: EINVAL (program of this type cannot use helper bpf_override_return#58)',
    'override_return on a uretprobe: EINVAL',
    'override_return on a uprobe: attached',
    'probed(41) returns 0',
  ]) assert.ok(lines.includes(l), `missing "${l}" in:\n${shim.stdout}`);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  if (!kernel.stdout.includes('kprobe jiffies64: loaded')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n').slice(-2).join(' ')}): shim output not compared`);
    return;
  }
  const bpftimeOnly = (l: string) => l.startsWith('override_return on') || l.startsWith('probed(');
  assert.deepEqual(lines.filter((l) => !bpftimeOnly(l)), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
