// bpftrace 0.17's builtins and map aggregations under the shim, with exact results: a victim
// makes exactly N mallocs of 16 bytes, and count, sum, avg, min, max, stats, hist, lhist, print,
// time, a ternary on retval, buf with %r and exit all print what they print on the kernel for the
// same workload.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, haveCommand, isRoot, root, withServer } from './harness';

const victim = path.join(root, 'examples', 'malloc', 'victim');
const skip = (!haveCommand('bpftrace') && 'bpftrace not installed') || (!fs.existsSync(victim) && 'examples not built');

const script = (v: string) => `
BEGIN { printf("ready\\n"); }
uprobe:libc:malloc /comm == "victim"/ {
  @c = count(); @s = sum(arg0); @a = avg(arg0); @mn = min(arg0); @mx = max(arg0); @st = stats(arg0);
  @h = hist(arg0); @l = lhist(arg0, 0, 64, 16);
}
uretprobe:${v}:main { time("year %Y\\n"); printf("ret %s\\n", retval == 0 ? "zero" : "nonzero"); $b = buf("abc", 3); printf("buf %r\\n", $b); exit(); }
END { print(@c); }
`;

/** What the run printed from the first probe output on (bpftrace's own banner lines dropped). */
function body(out: string): string {
  return out.slice(out.indexOf('year ')).replace(/\r/g, '');
}

async function runVictim(env: NodeJS.ProcessEnv, viaAgent: boolean, procs: Proc[]): Promise<void> {
  const args = viaAgent ? [cli, 'start', victim] : [];
  const v = viaAgent ? new Proc(process.execPath, args, env, { stdin: true }) : new Proc(victim, [], env, { stdin: true });
  procs.push(v);
  await v.waitFor(/ready pid=/);
  v.write('500\n');
  await v.waitFor(/done 500/);
  v.write('q\n');
  assert.equal(await v.exited, 0);
}

test('bpftrace builtins and aggregations print exact results (kernel as reference)', { skip, timeout: 90000 }, async (t) => {
  const v = fs.realpathSync(victim);
  let shimOut = '';
  await withServer(async (env, _dir, procs) => {
    const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', script(v)], env);
    procs.push(bt);
    await bt.waitFor(/^ready$/m);
    await runVictim(env, true, procs);
    await bt.exited;
    shimOut = body(bt.out);
  });
  assert.match(shimOut, /^year \d{4}\nret zero\nbuf abc\n@c: 500\n/);
  for (const re of [/^@a: 16$/m, /^@mn: 16$/m, /^@mx: 16$/m, /^@s: 8000$/m, /^@st: count 500, average 16, total 8000$/m, /^\[16, 32\)\s+500 \|@+\|$/m]) {
    assert.match(shimOut, re);
  }

  if (!isRoot || !fs.existsSync('/sys/kernel/tracing/events')) {
    t.skip('kernel path unavailable: not compared');
    return;
  }
  const procs: Proc[] = [];
  try {
    const bt = new Proc('bpftrace', ['-e', script(v)], process.env);
    procs.push(bt);
    await bt.waitFor(/^ready$/m, 30000);
    await runVictim(process.env, false, procs);
    await bt.exited;
    assert.equal(shimOut, body(bt.out));
  } finally {
    for (const p of procs) await p.stop('SIGINT');
  }
});
