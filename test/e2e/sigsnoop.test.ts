// Stock libbpf-tools sigsnoop -k and killsnoop (Debian's binaries, unmodified): the kill, tkill
// and tgkill syscall tracepoints, entry and exit. A victim under the agent kills its child
// (0), signals it again once reaped (-ESRCH) and sends itself signal 0 with tgkill; each call is
// one line with the signal, the target and the result, in order, as on the kernel. Without -k,
// sigsnoop needs the kernel tracepoint signal:signal_generate: see kernel-probes.test.ts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand } from './harness';
import { buildC, kernelToolsUsable, runWorkload, toolOnPty, waitAttached, waitLines, withServer } from './tools';

const VICTIM = `#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
  pid_t c = fork();
  if (c == 0) {
    pause();
    _exit(0);
  }
  int a = kill(c, SIGTERM);
  waitpid(c, NULL, 0);
  int b = kill(c, SIGUSR1);
  int d = syscall(SYS_tgkill, getpid(), gettid(), 0);
  printf("pid %d child %d: %d %d %d\\n", getpid(), c, a, b, d);
  return 0;
}
`;

/** SIG TPID RESULT of the lines sent by pid, in order. */
function signals(out: string, pid: string): string[] {
  const re = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+${pid}\\s+sig-victim\\s+(\\d+)\\s+(-?\\d+)\\s+(-?\\d+)\\s*\\r?$`);
  return out.split('\n').flatMap((l) => {
    const m = re.exec(l);
    return m ? [`${m[1]} ${m[2]} ${m[3]}`] : [];
  });
}

function normalise(lines: string[], pid: string, child: string): string[] {
  return lines.map((l) => {
    const [sig, tpid, ret] = l.split(' ');
    return `${sig} ${tpid === child ? 'child' : tpid === pid ? 'self' : tpid} ${ret}`;
  });
}

for (const cmd of ['/usr/sbin/sigsnoop -k', '/usr/sbin/killsnoop']) {
  const bin0 = cmd.split(' ')[0];
  const skip = (!fs.existsSync(bin0) && 'libbpf-tools not installed') || (!haveCommand('cc') && 'no C compiler');
  test(`${cmd} reports kill/tkill/tgkill of a traced process`, { skip, timeout: 90000 }, async (t) => {
    const bin = buildC('sig-victim', VICTIM);
    let shim: string[] = [];
    let shimPid = '';
    let shimChild = '';
    await withServer(async (env, dir, procs) => {
      const tool = toolOnPty(cmd, env);
      procs.push(tool);
      await tool.waitFor(/TIME\s+PID\s+COMM\s+SIG\s+TPID\s+RESULT/);
      await waitAttached(dir, 6);
      const w = runWorkload(env, [bin]);
      const m = /pid (\d+) child (\d+): 0 -1 0/.exec(w.out);
      assert.ok(m, w.out);
      // all three (each CPU has its perf buffer, read one after the other: a process that moved
      // between two of its calls can have them printed out of order, on a kernel too)
      await waitLines(tool, new RegExp(`\\s${m![1]}\\s+sig-victim\\s+\\d+\\s`), 3);
      shim = signals(tool.out, m![1]).sort();
      [shimPid, shimChild] = [m![1], m![2]];
      assert.deepEqual(shim, [`0 ${m![1]} 0`, `10 ${m![2]} -3`, `15 ${m![2]} 0`]);
    });

    const noKernel = kernelToolsUsable();
    if (noKernel) return t.diagnostic(noKernel);
    const tool = toolOnPty(cmd);
    try {
      await tool.waitFor(/TIME\s+PID\s+COMM\s+SIG\s+TPID\s+RESULT/, 20000);
      const w = runWorkload(undefined, [bin]);
      const m = /pid (\d+) child (\d+): 0 -1 0/.exec(w.out)!;
      await waitLines(tool, new RegExp(`\\s${m[1]}\\s+sig-victim\\s+\\d+\\s`), 3);
      // The pids differ between the runs: compare signal, whom (the child or itself), result.
      assert.deepEqual(normalise(signals(tool.out, m[1]).sort(), m[1], m[2]), normalise(shim, shimPid, shimChild));
    } finally {
      await tool.stop('SIGINT');
    }
  });
}
