// bcc's funcslower-bpfcc and profile-bpfcc (Debian's bpfcc-tools 0.26, unmodified) under the
// shim, against test/programs/stack_victim.c run by `bpftime start`; where the kernel can run BPF
// the same workload on the kernel gives the reference.
//   funcslower: a uprobe and a uretprobe per function, the latency, arguments and return value
//     of each call through a perf buffer.
//   profile -p: a CPU clock perf event sampling the traced process, user stacks through a
//     stack trace map, symbolised by bcc.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, root, shimLib, tmpRuntimeDir } from './harness';
import { startRun, targetArgv } from './run-mode';
import { Mode, SIGINT_DEFAULT, bccMissing, kernelSkip, sbin, shimAndKernel } from './bcc-scenario';

const skip = bccMissing();
if (skip) console.log(`# bcc tests skipped: ${skip}`);

let victimBin = '';
function victim(): string {
  if (!victimBin) {
    // frame pointers, so that both the kernel's stack walk and ours see the whole chain; a short
    // path for bcc's uprobe_events fallback (see bcc.test.ts)
    victimBin = path.join(fs.mkdtempSync('/tmp/b'), 'stkv');
    execFileSync('cc', ['-O0', '-fno-omit-frame-pointer', '-g', '-o', victimBin, path.join(root, 'test', 'programs', 'stack_victim.c')]);
  }
  return victimBin;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// stack_victim answers "done <command> <sum>"
const doneCmd = (s: string) => new RegExp(`^done ${esc(s)} -?\\d+$`, 'm');

test('funcslower-bpfcc: every call of two user functions with its arguments, return value and latency', { skip, timeout: 240000 }, async (t) => {
  victim();
  await shimAndKernel(t, {
    target: [victimBin],
    // -u 0.001: any call of 1 ns or more (0 would mean the default, 1 ms); -a 1: the first argument
    tool: [sbin('funcslower-bpfcc'), '-u', '0.001', '-a', '1', '-p', '{PID}', `${victimBin}:outer`, `${victimBin}:spin_outer`],
    ready: /^COMM\s+PID\s+LAT\(us\)\s+RVAL\s+FUNC/m,
    untilPolling: true, // funcslower prints its header before it opens its perf buffer
    steps: ['call 3', 'spin 30'],
    done: doneCmd,
    // the whole line: Python's print writes the text and its newline separately, and a SIGINT
    // between the two interrupts the line (seen on the kernel side in CI)
    until: (out) => /:spin_outer \S*\r?\n/.test(out),
  }, (out, pid) => {
    const re = new RegExp(`^stkv\\s+${pid}\\s+(\\d+\\.\\d\\d)\\s+([0-9a-f]+) ${esc(victimBin)}:(\\w+) (\\S*)\\s*$`, 'gm');
    const calls = [...out.matchAll(re)];
    // outer(i) = 3i+4 for i = 0, 1, 2; spin_outer's argument is a double (in xmm0, not a
    // register bcc reads) and it returns void: its RVAL is whatever rax held, not compared.
    const summary = calls.map((m) => (m[3] === 'outer' ? `outer ${m[4]} = ${parseInt(m[2], 16)}` : 'spin_outer'));
    assert.deepEqual(summary, ['outer 0x0 = 4', 'outer 0x1 = 7', 'outer 0x2 = 10', 'spin_outer']);
    // the 30 ms spin took at least 30 ms between its entry and return probes
    assert.ok(Number(calls[3][1]) >= 30000, `spin_outer's latency ${calls[3][1]} us`);
    return summary;
  });
});

/** Waits until p's main thread sleeps in clock_nanosleep (Python's time.sleep): profile-bpfcc
 * prints nothing between attaching its perf events and sleeping for the duration. */
async function waitSleeping(p: Proc): Promise<void> {
  let seen = 0;
  for (const deadline = Date.now() + 90000; Date.now() < deadline; ) {
    if (p.done) break;
    const nr = Number(fs.readFileSync(`/proc/${p.child.pid}/syscall`, 'utf8').split(' ')[0]);
    seen = nr === 230 ? seen + 1 : 0; // clock_nanosleep (x86-64)
    if (seen >= 3) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`profile never went to sleep; output:\n${p.out}`);
}

/** profile -f's folded stacks, summed per symbolised stack (samples at different addresses of
 * one function are different stack ids but the same line). */
function folded(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const [, stack, n] of out.matchAll(/^(\S+) (\d+)$/gm)) m.set(stack, (m.get(stack) ?? 0) + Number(n));
  return m;
}

async function runProfile(mode: Mode): Promise<Map<string, number>> {
  const dir = tmpRuntimeDir();
  const procs: Proc[] = [];
  try {
    const base = await startRun(mode, dir, procs);
    const [vCmd, ...vArgs] = targetArgv(mode, [victimBin]);
    const v = new Proc(vCmd, vArgs, base, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/, 30000))[1]);
    const env = { ...base, PYTHONUNBUFFERED: '1', ...(mode === 'shim' ? { LD_PRELOAD: shimLib } : {}) };
    const tool = new Proc('/usr/bin/python3', ['-c', SIGINT_DEFAULT, sbin('profile-bpfcc'), '-U', '-f', '-F', '99', '-p', String(pid)], env);
    procs.push(tool);
    await waitSleeping(tool);
    v.write('spin 600\n');
    await v.waitFor(doneCmd('spin 600'), 30000);
    // stopped while the victim still runs, so that bcc can read its symbols
    assert.equal(await tool.stop('SIGINT', 20000), 0, tool.out);
    return folded(tool.out);
  } catch (e) {
    (e as Error).message = `[${mode}] ${(e as Error).message}` + (mode === 'shim' ? `\nserver log:\n${procs[0]?.out}` : '');
    throw e;
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What must hold of a profile of the spinning victim, and what is compared with the kernel:
 * the stack holding most samples, and that every sample is the victim's. */
function checkProfile(stacks: Map<string, number>, mode: Mode): string {
  const all = [...stacks].sort((a, b) => b[1] - a[1]);
  assert.ok(all.length > 0, `[${mode}] no samples`);
  for (const [s] of all) assert.match(s, /^stkv;/, `[${mode}] a sample outside the victim (-p): ${s}`);
  const [top, n] = all[0];
  // 600 ms at 99 Hz is about 60 samples; most of them where the loop runs
  assert.ok(n >= 10, `[${mode}] ${n} samples in ${top}`);
  assert.equal(top, 'stkv;__libc_start_call_main;main;spin_outer;spin_hot', `[${mode}] ${JSON.stringify(all)}`);
  return top;
}

test('profile-bpfcc -U -p PID: CPU clock samples of the traced process, user stacks symbolised', { skip, timeout: 240000 }, async (t) => {
  victim();
  const shim = checkProfile(await runProfile('shim'), 'shim');
  if (kernelSkip) {
    t.diagnostic(`kernel reference skipped: ${kernelSkip}`);
    return;
  }
  assert.equal(checkProfile(await runProfile('kernel'), 'kernel'), shim);
});
