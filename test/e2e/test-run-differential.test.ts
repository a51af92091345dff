// The kernel as oracle for BPF_PROG_TEST_RUN: test/programs/test_run.c runs the programs of
// test/programs/test_run.bpf.c (SYSCALL, XDP, SCHED_CLS, SOCKET_FILTER, RAW_TRACEPOINT, and a
// tracepoint program, which has no test run) through libbpf's bpf_prog_test_run_opts with good
// and bad input (bad pointers, short buffers, repeat, flags, cpu, metadata, fragments) and
// prints every result. Under the shim, with the JIT and with the interpreter (BPFTIME_JIT=0), it
// must print exactly what it prints on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';
import { waitInstalled } from './tools';
import { assertSameOnKernel, buildLibbpfProgram, haveLibbpfTools, runUnderShim } from './libbpf-program';

const build = (out: string) => buildLibbpfProgram('test_run', out);
const underShim = runUnderShim;
const haveTools = haveLibbpfTools;

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
  if (!assertSameOnKernel(t, bin, [obj], jit.stdout, 'loaded')) return;
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

test('BPF_ENABLE_STATS: programs count runs while a stats fd is open, as on the kernel', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = build(out);
  const shim = underShim(bin, ['--stats', obj], true);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^stats: 1000 runs with stats: info 0 run_cnt=1000 run_time_ns>0: 1$/m);
  assert.match(shim.stdout, /^stats: 10 more after the last close: info 0 run_cnt=1010 /m);
  const kernel = spawnSync(bin, ['--stats', obj], { encoding: 'utf8', timeout: 60000 });
  if (kernel.status !== 0 || kernel.stdout.startsWith('load failed')) {
    t.skip(`kernel path unavailable (${(kernel.stdout || kernel.stderr).split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(out, { recursive: true, force: true });
});

/** Holds a loaded XDP program (and an open stats fd) in the driver while bpftool looks at it
 * and test-runs it; returns bpftool's outputs. env null: on the kernel. */
async function bpftoolOnHeld(bin: string, obj: string, out: string, env: NodeJS.ProcessEnv | null) {
  const { Proc } = await import('./harness');
  const holder = new Proc(bin, ['--stats', obj, '--hold'], env ? { ...env, LD_PRELOAD: shimLib } : process.env, { stdin: true });
  try {
    const id = (await holder.waitFor(/holding id=(\d+)/, 30000))[1];
    const tool = (args: string[]) => spawnSync('bpftool', args, {
      env: env ? { ...env, LD_PRELOAD: shimLib } : process.env, encoding: 'utf8', timeout: 20000,
    });
    const show = tool(['prog', 'show', 'id', id]);
    const pkt = path.join(out, 'pkt.bin'), res = path.join(out, `res-${env ? 'shim' : 'kernel'}.bin`);
    fs.writeFileSync(pkt, Buffer.from(Array.from({ length: 64 }, (_, i) => (i < 12 ? (i < 6 ? 1 : 2) : i))));
    const run = tool(['prog', 'run', 'id', id, 'data_in', pkt, 'data_out', res, 'repeat', '5']);
    holder.write('\n');
    await holder.exited;
    return { show, run, data: fs.existsSync(res) ? fs.readFileSync(res) : null };
  } finally {
    holder.killGroup();
  }
}

test('bpftool prog show reports run_time_ns/run_cnt and bpftool prog run test-runs, under the shim as on the kernel', { skip: (!haveTools || !haveCommand('bpftool')) && 'needs clang, cc, libbpf-dev and bpftool', timeout: 120000 }, async (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = build(out);
  const rt = tmpRuntimeDir();
  let shim;
  try {
    shim = await bpftoolOnHeld(bin, obj, out, bpftimeEnv(rt));
  } finally {
    stopServer(rt);
  }
  assert.equal(shim.show.status, 0, shim.show.stderr);
  assert.match(shim.show.stdout, /xdp\s+name xdp_swap .* run_time_ns \d+ run_cnt 1010\b/s);
  assert.equal(shim.run.status, 0, shim.run.stderr);
  assert.match(shim.run.stdout, /Return value: 65600, duration \(average\): \d+ns/);
  // Swapped five times: the MACs end swapped.
  assert.deepEqual([...shim.data!.subarray(0, 12)], [2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]);
  const kernel = await bpftoolOnHeld(bin, obj, out, null);
  if (kernel.show.status !== 0 || kernel.run.status !== 0) {
    t.skip(`kernel path unavailable (${kernel.show.stderr || kernel.run.stderr}): shim output not compared`);
    return;
  }
  const norm = (s: string) => s.replace(/\d+ns/, 'Nns');
  assert.equal(norm(shim.run.stdout), norm(kernel.run.stdout));
  assert.deepEqual(shim.data, kernel.data);
  const fields = (s: string) => s.replace(/^\d+: /, '').replace(/loaded_at \S+/, '').replace(/run_time_ns \d+/, '').replace(/tag \S+/, '').replace(/map_ids \d+/, '').replace(/\s+/g, ' ');
  assert.match(kernel.show.stdout, /run_cnt 1010\b/);
  assert.ok(fields(shim.show.stdout).includes('xdp name xdp_swap'), fields(shim.show.stdout));
  fs.rmSync(out, { recursive: true, force: true });
});

test('BPF_ENABLE_STATS: agents count the runs of attached programs into the shared counters', { skip: (!haveTools || !haveCommand('bpftool') || !fs.existsSync(path.join(root, 'examples/malloc/victim'))) && 'needs clang, cc, libbpf-dev, bpftool and the examples', timeout: 120000 }, async () => {
  const { Proc, cli } = await import('./harness');
  const out = tmpRuntimeDir();
  const { bin, obj } = build(out);
  const rt = tmpRuntimeDir();
  const env = bpftimeEnv(rt);
  const tool = new Proc(process.execPath, [cli, 'load', path.join(root, 'examples/malloc/malloc'), '-i', '0.3'], env);
  const victim = new Proc(process.execPath, [cli, 'start', path.join(root, 'examples/malloc/victim')], env, { stdin: true });
  let holder: InstanceType<typeof Proc> | undefined;
  const runCnt = (): number => {
    const r = spawnSync('bpftool', ['-j', 'prog', 'show', 'name', 'count_calls'], { env: { ...env, LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    return (Array.isArray(j) ? j[0] : j).run_cnt ?? 0;
  };
  try {
    await tool.waitFor(/Tracing malloc/);
    const pid = Number((await victim.waitFor(/ready pid=(\d+)/))[1]);
    await waitInstalled(rt, pid, 1);
    victim.write('100\n');
    await victim.waitFor(/done 100\b/);
    assert.equal(runCnt(), 0, 'no stats fd open yet: nothing counts');
    holder = new Proc(bin, ['--stats', obj, '--hold'], { ...env, LD_PRELOAD: shimLib }, { stdin: true });
    await holder.waitFor(/holding id=/, 30000);
    victim.write('1000\n');
    await victim.waitFor(/done 1000\b/);
    const counted = runCnt();
    assert.ok(counted >= 1000, `run_cnt ${counted} after 1000 mallocs in the traced process`);
    holder.write('\n');
    await holder.exited;
    await new Promise((r) => setTimeout(r, 300)); // the server learns of the close from the pipe
    const off = runCnt();
    victim.write('500\n');
    await victim.waitFor(/done 500\b/);
    assert.equal(runCnt(), off, 'stats off after the last stats fd closed');
  } finally {
    holder?.killGroup();
    victim.child.stdin?.end();
    await victim.stop('SIGTERM');
    await tool.stop('SIGINT');
    stopServer(rt);
    fs.rmSync(out, { recursive: true, force: true });
  }
});
