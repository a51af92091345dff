// Stock libbpf-tools funclatency (Debian's binary, unmodified) on user functions: a uprobe and a
// uretprobe on the same function time each call (bpf_ktime_get_ns, a per-thread start map, a
// log2 histogram in .bss). A victim under the agent makes N calls of a function that sleeps 3 ms
// and N malloc() calls; `-p PID :work` (the victim's own binary), `-p PID c:malloc` (a library
// the victim maps) and `BINARY:work` (every process running it) count exactly N, the sleeps
// none below 2048 us; the kernel, given the same victim, agrees. (`-p PID /path:func` is looked
// up as a library by funclatency itself and fails on the kernel too.)
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { Proc, cli, haveCommand } from './harness';
import { buildC, kernelToolsUsable, toolOnPty, waitAttached, withServer } from './tools';

const funclatency = '/usr/sbin/funclatency';
const N = 25;

const VICTIM = `#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
__attribute__((noinline)) int work(int us) {
  struct timespec ts = {0, us * 1000L};
  nanosleep(&ts, NULL);
  return us;
}
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  printf("pid %d\\n", getpid());
  fflush(stdout);
  char line[16];
  while (fgets(line, sizeof(line), stdin)) {
    for (int i = 0; i < n; i++) {
      work(3000);
      void *volatile p = malloc(100 + i); /* volatile: the compiler may not drop the pair */
      free(p);
    }
    printf("done\\n");
    fflush(stdout);
  }
  return 0;
}
`;

interface Hist {
  total: number;
  below2048: number;
}

/** The histogram funclatency prints at exit: total count and the count below 2048 units. */
function histogram(out: string): Hist {
  let total = 0;
  let below2048 = 0;
  for (const m of out.matchAll(/^\s*(\d+) -> (\d+)\s+: (\d+)\s/gm)) {
    total += Number(m[3]);
    if (Number(m[2]) < 2048) below2048 += Number(m[3]);
  }
  return { total, below2048 };
}

/** One funclatency run against the victim: start, attach, one round of calls, Ctrl-C. */
async function measure(victim: Proc, pid: string | null, func: string, env: NodeJS.ProcessEnv | undefined, dir: string | undefined, procs: Proc[]): Promise<Hist> {
  const tool = toolOnPty(`${funclatency} -u ${pid ? `-p ${pid} ` : ''}${func}`, env);
  procs.push(tool);
  await tool.waitFor(new RegExp(`Tracing ${func}`));
  if (dir) await waitAttached(dir, 2);
  const before = (victim.out.match(/done/g) ?? []).length;
  victim.write('go\n');
  await victim.waitFor(new RegExp(`(done[\\s\\S]*){${before + 1}}`));
  tool.write('\x03'); // Ctrl-C on the pty: funclatency prints its histogram and exits
  await tool.waitFor(new RegExp(`Exiting trace of ${func}`));
  return histogram(tool.out);
}

const skip = (!fs.existsSync(funclatency) && 'libbpf-tools not installed') || (!haveCommand('cc') && 'no C compiler');

test('funclatency times a function of the traced binary and a libc function', { skip, timeout: 120000 }, async (t) => {
  const bin = buildC('fl-victim', VICTIM);
  let shim: Hist[] = [];
  await withServer(async (env, dir, procs) => {
    const victim = new Proc(process.execPath, [cli, 'start', bin, String(N)], env, { stdin: true });
    procs.push(victim);
    const pid = (await victim.waitFor(/pid (\d+)/))[1];
    shim = [
      await measure(victim, pid, ':work', env, dir, procs),
      await measure(victim, pid, 'c:malloc', env, dir, procs),
      await measure(victim, null, `${bin}:work`, env, dir, procs), // every process running bin
    ];
  });
  assert.deepEqual(shim[0], { total: N, below2048: 0 }, 'work(): N calls of at least 3 ms');
  assert.equal(shim[1].total, N, 'malloc(): N calls');
  assert.deepEqual(shim[2], { total: N, below2048: 0 }, 'PROGRAM:work without -p');

  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const procs: Proc[] = [];
  try {
    const victim = new Proc(bin, [String(N)], process.env, { stdin: true });
    procs.push(victim);
    const pid = (await victim.waitFor(/pid (\d+)/))[1];
    const kernel = [
      await measure(victim, pid, ':work', undefined, undefined, procs),
      await measure(victim, pid, 'c:malloc', undefined, undefined, procs),
      await measure(victim, null, `${bin}:work`, undefined, undefined, procs),
    ];
    assert.equal(kernel[0].total, shim[0].total);
    assert.equal(kernel[0].below2048, 0);
    assert.equal(kernel[1].total, shim[1].total);
    assert.deepEqual(kernel[2], shim[2]);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGINT');
  }
});
