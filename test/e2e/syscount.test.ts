// Stock libbpf-tools syscount (Debian's binary, unmodified: raw_syscalls tracepoints, CO-RE)
// under the shim counts the syscalls of a traced victim: a known number of getppid() calls,
// made on a second thread. By syscall (-p PID) the count is at least that number; by process
// (-P) the name is read with CO-RE through bpf_get_current_task() as
// `task->group_leader->comm`, so it is the main thread's name, not the calling thread's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, cli, haveCommand, withServer } from './harness';
import { toolOnPty, waitAttached } from './tools';

const syscount = '/usr/sbin/syscount';
const N = 3000;

// Each line on stdin: a thread named sc-worker makes N getppid() calls, then "done".
const VICTIM = `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
static int n;
static void *work(void *arg) {
  prctl(PR_SET_NAME, "sc-worker", 0, 0, 0);
  for (int i = 0; i < n; i++) syscall(SYS_getppid);
  return arg;
}
int main(int argc, char **argv) {
  n = atoi(argv[1]);
  printf("pid %d\\n", getpid());
  fflush(stdout);
  char line[16];
  while (fgets(line, sizeof(line), stdin)) {
    pthread_t t;
    pthread_create(&t, NULL, work, NULL);
    pthread_join(t, NULL);
    printf("done\\n");
    fflush(stdout);
  }
  return 0;
}
`;

function buildVictim(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'syscount-'));
  const src = path.join(dir, 'victim.c');
  const bin = path.join(dir, 'syscount-victim'); // 15 characters: a whole comm
  fs.writeFileSync(src, VICTIM);
  execFileSync('cc', ['-O1', '-pthread', '-o', bin, src]);
  return bin;
}

/** Sum of every interval's count on lines matching re (group 1): the N calls may straddle two. */
function total(out: string, re: RegExp): number {
  let sum = 0;
  for (const m of out.matchAll(new RegExp(re.source, 'gm'))) sum += Number(m[1]);
  return sum;
}

/** Waits (bounded) until the tables printed so far add up to `want` on lines matching re; the
 * total then. syscount prints a table only for an interval that counted something. */
async function totalReaching(p: Proc, re: RegExp, want: number, timeoutMs = 15000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let n = total(p.out, re);
  while (n < want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    n = total(p.out, re);
  }
  return n;
}

const skip = (!fs.existsSync(syscount) && 'libbpf-tools not installed') || (!haveCommand('cc') && 'no C compiler');

test('syscount counts a traced victim by syscall and by process', { skip, timeout: 90000 }, async () => {
  const victimBin = buildVictim();
  await withServer(async (env, dir, procs) => {
    const victim = new Proc(process.execPath, [cli, 'start', victimBin, String(N)], env, { stdin: true });
    procs.push(victim);
    const pid = (await victim.waitFor(/pid (\d+)/))[1];

    // By syscall, this process only; a table every second (libbpf-tools want a terminal).
    const bySyscall = toolOnPty(`${syscount} -p ${pid} -i 1`, env);
    procs.push(bySyscall);
    await bySyscall.waitFor(/Tracing syscalls/);
    await waitAttached(dir, 1);
    victim.write('go\n');
    await victim.waitFor(/done/);
    const calls = await totalReaching(bySyscall, /^getppid\s+(\d+)\s*\r?$/, N);
    assert.ok(calls >= N, `getppid counted ${calls} times, want >= ${N}:\n${bySyscall.out}`);
    assert.match(bySyscall.out, /SYSCALL\s+COUNT/);
    await bySyscall.stop('SIGINT');
    procs.pop();

    // By process: the main thread's name (group_leader->comm), though sc-worker made the calls.
    const byProcess = toolOnPty(`${syscount} -P -p ${pid} -i 1`, env);
    procs.push(byProcess);
    await byProcess.waitFor(/Tracing syscalls/);
    await waitAttached(dir, 1);
    victim.write('go\n');
    await victim.waitFor(/done[\s\S]*done/);
    const byPid = await totalReaching(byProcess, new RegExp(`^${pid}\\s+syscount-victim\\s+(\\d+)\\s*\\r?$`), N);
    assert.ok(byPid >= N, `${pid} syscount-victim counted ${byPid} times, want >= ${N}:\n${byProcess.out}`);
    assert.doesNotMatch(byProcess.out, /sc-worker/);
  });
});
