// Stock tools' read-only views under the shim:
//   bpftool prog tracelog: the served trace_pipe, fed by bpf_printk in a traced process
//     (examples/printk at the malloc victim's malloc).
//   bpftrace -l / -lv of uprobe: and usdt: for a binary, a library, and a process (-p) run by
//     `bpftime start`: what bpftrace reads from ELF, DWARF and /proc/PID/maps, printed exactly
//     as bpftrace prints it without the shim.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, haveCommand, root, shimLib, withServer } from './harness';
import { waitInstalled } from './tools';

const printk = path.join(root, 'examples', 'printk', 'printk');
const mallocVictim = path.join(root, 'examples', 'malloc', 'victim');
const usdtVictim = path.join(root, 'examples', 'usdt', 'usdt_victim');

test('bpftool prog tracelog prints the bpf_printk lines of a program in a traced process', {
  skip: !haveCommand('bpftool') ? 'bpftool not installed' : !fs.existsSync(printk) && 'examples not built',
  timeout: 60000,
}, async () => {
  await withServer(async (env, dir, procs) => {
    const v = new Proc(process.execPath, [cli, 'start', mallocVictim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const t = new Proc(process.execPath, [cli, 'load', printk, '-p', String(pid)], env);
    procs.push(t);
    await t.waitFor(/Printing malloc calls/);
    await waitInstalled(dir, pid, 1);
    const log = new Proc('bpftool', ['prog', 'tracelog'], { ...env, LD_PRELOAD: shimLib });
    procs.push(log);
    // lines written before bpftool opens the pipe wait in the buffer, as in the kernel's
    v.write('3\n');
    await v.waitFor(/done 3/);
    const lines = () => log.out.split('\n').filter((l) => l.includes('bpf_trace_printk'));
    for (let i = 0; i < 200 && lines().length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    const got = lines();
    assert.equal(got.length, 3, log.out);
    for (const l of got) assert.match(l, new RegExp(`^\\s+victim-${pid} \\[\\d{3}\\] d\\.\\.31 +\\d+\\.\\d{6}: bpf_trace_printk: malloc\\(16\\) by victim$`));
    assert.equal(log.child.exitCode, null, 'bpftool keeps reading, as on the kernel');
  }, 'SIGTERM');
});

const bpftraceSkip = !haveCommand('bpftrace') ? 'bpftrace not installed' : !haveCommand('cc') ? 'no C compiler' : false;

/** bpftrace's listing, under the shim or without it (its -l reads files only: no BPF needed). */
function list(args: string[], env: NodeJS.ProcessEnv, shim: boolean): string {
  const r = spawnSync('bpftrace', args, { env: { ...env, ...(shim ? { LD_PRELOAD: shimLib } : {}) }, encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, `bpftrace ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('bpftrace -l / -lv: uprobe and usdt listings of a binary, a library and a traced process, as without the shim', { skip: bpftraceSkip || (!fs.existsSync(usdtVictim) && 'examples not built'), timeout: 120000 }, async () => {
  const tmp = fs.mkdtempSync('/tmp/bl');
  const stackVictim = path.join(tmp, 'stack_victim');
  execFileSync('cc', ['-O0', '-fno-omit-frame-pointer', '-g', '-o', stackVictim, path.join(root, 'test', 'programs', 'stack_victim.c')]);
  try {
    await withServer(async (env, _dir, procs) => {
      const v = new Proc(process.execPath, [cli, 'start', usdtVictim], env, { stdin: true });
      procs.push(v);
      await v.waitFor(/ready/);
      // the victim's own pid (bpftime start execs it in place of itself or as a child)
      const pid = execFileSync('pgrep', ['-f', `^${usdtVictim}`], { encoding: 'utf8' }).trim().split('\n').map(Number)
        .find((p) => fs.readFileSync(`/proc/${p}/environ`, 'utf8').includes(`BPFTIME_RUNTIME_DIR=${env.BPFTIME_RUNTIME_DIR}`));
      assert.ok(pid, 'the victim runs');
      const cases: Array<[string[], (out: string) => void]> = [
        [['-l', `uprobe:${stackVictim}:*`], (o) => {
          for (const f of ['leaf', 'middle', 'outer', 'spin_hot', 'spin_outer', 'main']) assert.match(o, new RegExp(`^uprobe:${stackVictim}:${f}$`, 'm'));
        }],
        [['-lv', `uprobe:${stackVictim}:outer`], (o) => assert.equal(o, `uprobe:${stackVictim}:outer\n    int x\n`)],
        [['-l', `usdt:${usdtVictim}:*`], (o) => assert.equal(o, `usdt:${usdtVictim}:bpftime:request\n`)],
        [['-l', 'uprobe:libc:malloc*'], (o) => assert.match(o, /^uprobe:\/\S*libc\.so\.6:malloc$/m)],
        [['-l', 'usdt:*', '-p', String(pid)], (o) => assert.equal(o, `usdt:/proc/${pid}/root${usdtVictim}:bpftime:request\n`)],
        [['-l', 'uprobe:libc:malloc', '-p', String(pid)], (o) => assert.match(o, /^uprobe:\/\S*libc\.so\.6:malloc$/m)],
      ];
      for (const [args, check] of cases) {
        const shim = list(args, env, true);
        check(shim);
        assert.equal(shim, list(args, env, false), `bpftrace ${args.join(' ')}: the shim changes the listing`);
      }
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
