// Helpers at a uprobe, with the kernel as oracle: test/programs/helpers (clang-compiled BPF C
// calling strtol, strtoul, strncmp, jiffies64, get_numa_node_id, get_ns_current_pid_tgid,
// get_current_cgroup_id, get_current_ancestor_cgroup_id, copy_from_user in a sleepable uprobe,
// and probe_write_user) is loaded by a libbpf loader that attaches to a victim and prints what
// the programs recorded. It runs under the shim with the victim under `bpftime start`, and on
// the kernel with the plain victim; the outputs must be identical. A kernel in lockdown refuses
// probe_write_user at load: that line is then compared with what the shim must print instead.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const srcDir = path.join(root, 'test', 'programs', 'helpers');
const tools = ['clang', 'bpftool', 'cc'].filter((c) => !haveCommand(c));

function build(dir: string): { loader: string; victim: string } {
  const obj = path.join(dir, 'helpers_uprobe.bpf.o');
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-D__TARGET_ARCH_x86', '-I/usr/include', `-I/usr/include/${multiarch}`,
    '-c', path.join(srcDir, 'helpers_uprobe.bpf.c'), '-o', obj]);
  fs.writeFileSync(path.join(dir, 'helpers_uprobe.skel.h'), execFileSync('bpftool', ['gen', 'skeleton', obj, 'name', 'helpers_uprobe_bpf']));
  const loader = path.join(dir, 'helpers_uprobe');
  const victim = path.join(dir, 'helpers_victim');
  execFileSync('cc', ['-O2', '-g', '-I', dir, '-I', srcDir, path.join(srcDir, 'helpers_uprobe.c'), '-o', loader, '-lbpf', '-lelf', '-lz']);
  execFileSync('cc', ['-O1', '-g', path.join(srcDir, 'helpers_victim.c'), '-o', victim]);
  return { loader, victim };
}

/** A fresh cgroup under the cgroup2 root for the victim to join, or undefined (not root, no cgroup2). */
function makeCgroup(tag: string): string | undefined {
  if (!isRoot) return undefined;
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(' - cgroup2 '));
  if (!line) return undefined;
  const dir = path.join(line.split(' ')[4], `bpftime-helpers-${tag}-${process.pid}`);
  try {
    fs.mkdirSync(dir);
    return dir;
  } catch {
    return undefined;
  }
}

async function run(loader: string, victim: string, env: NodeJS.ProcessEnv, loaderEnv: NodeJS.ProcessEnv, victimCmd: string[], tag: string): Promise<{ out: string; victimOut: string }> {
  const cg = makeCgroup(tag);
  const extra = cg ? [cg] : [];
  const l = new Proc(loader, [victim, ...extra], loaderEnv, { stdin: true });
  try {
    await l.waitFor(/^ready$|^load: .*|^attach .*/m, 30000);
    if (!/^ready$/m.test(l.out)) return { out: l.out, victimOut: '' };
    const [cmd, ...args] = victimCmd.length ? [...victimCmd, victim, ...extra] : [victim, ...extra];
    const v = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 30000 });
    assert.equal(v.status, 0, `victim: ${v.stdout}${v.stderr}`);
    l.write('go\n');
    await l.exited;
    return { out: l.out, victimOut: v.stdout };
  } finally {
    await l.stop();
    if (cg) fs.rmdirSync(cg);
  }
}

/** The loader's result lines (libbpf's warnings and the verifier log dropped). */
const results = (out: string) => out.split('\n').slice(out.split('\n').indexOf('ready'));

test('helpers at a uprobe give the kernel\'s results', { skip: tools.length > 0 && `missing ${tools.join(', ')}`, timeout: 120000 }, async (t) => {
  const dir = tmpRuntimeDir();
  const { loader, victim } = build(dir);
  const env = bpftimeEnv(dir);
  let shim;
  try {
    shim = await run(loader, victim, env, { ...env, LD_PRELOAD: shimLib }, [process.execPath, cli, 'start'], 'shim');
  } finally {
    stopServer(dir);
  }
  const s = results(shim.out);
  // What the shim must print whatever the kernel does.
  assert.ok(s.includes('case 1: strtol 6 res -123, strtoul -22 res 0, strncmp -1 -1 -1'), shim.out);
  assert.ok(s.includes('case 10: strtol 2 res 5, strtoul 2 res 5, strncmp 1 1 1'), shim.out);
  assert.ok(s.includes('case 20: strtol 20 res -9223372036854775808, strtoul -22 res 0, strncmp -1 -1 -1'), shim.out);
  assert.ok(s.includes('case 23: strtol -34 res 0, strtoul -34 res 0, strncmp 1 1 -1'), shim.out);
  assert.ok(s.includes('ns_current_pid_tgid: 0 pid matches tgid matches'), shim.out);
  assert.ok(s.includes('ns_current_pid_tgid other ns: -22 pid 0 tgid 0'), shim.out);
  if (isRoot) assert.ok(s.includes('cgroup id: matches the cgroup directory'), shim.out);
  assert.ok(s.includes('probe_write_user: 0, bad address -14'), shim.out);
  assert.ok(s.includes('copy_from_user: 0 "victim-data", bad address -14 zeroed'), shim.out);
  assert.equal(shim.victimOut, 'victim: wbuf=injected\n');

  const kernel = await run(loader, victim, process.env, process.env, [], 'kernel');
  if (!/^ready$/m.test(kernel.out)) {
    t.skip(`kernel path unavailable (${kernel.out.split('\n').filter((x) => /^(load|attach)/.test(x)).join('; ')}): shim output not compared`);
    return;
  }
  const k = results(kernel.out);
  if (k.includes('probe_write_user: refused at load')) {
    // Lockdown: the kernel offers no probe_write_user, so the victim kept its buffer.
    assert.equal(kernel.victimOut, 'victim: wbuf=untouched\n');
    assert.deepEqual(s.filter((x) => !x.startsWith('probe_write_user')), k.filter((x) => !x.startsWith('probe_write_user')));
  } else {
    assert.deepEqual(s, k);
    assert.equal(kernel.victimOut, shim.victimOut);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
