// Stock libbpf-tools gethostlatency (Debian's binary, unmodified): uprobes and uretprobes on
// libc's getaddrinfo, gethostbyname and gethostbyname2 (found by symbol in the libc it names),
// the host read with bpf_probe_read_user at entry, the latency at return. A victim under the
// agent resolves three names from /etc/hosts; each call is one line with the victim's pid, comm
// and host, in order, as on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand } from './harness';
import { buildC, kernelToolsUsable, runWorkload, toolOnPty, waitAttached, waitLines, withServer } from './tools';

const gethostlatency = '/usr/sbin/gethostlatency';

const VICTIM = `#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  int a = getaddrinfo(argv[1], NULL, &hints, &res);
  if (!a) freeaddrinfo(res);
  struct hostent *h1 = gethostbyname(argv[2]);
  struct hostent *h2 = gethostbyname2(argv[3], AF_INET);
  printf("pid %d: %d %d %d\\n", getpid(), a, h1 != NULL, h2 != NULL);
  return 0;
}
`;

/** COMM and HOST of the lines for pid, in order (the latency varies). */
function calls(out: string, pid: string): string[] {
  const re = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+${pid}\\s+(\\S+)\\s+\\d+\\.\\d+\\s+(\\S+)\\s*\\r?$`);
  return out.split('\n').flatMap((l) => {
    const m = re.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

const skip = (!fs.existsSync(gethostlatency) && 'libbpf-tools not installed') || (!haveCommand('cc') && 'no C compiler');
const HOSTS = ['localhost', 'ip6-localhost', `nohost-${process.pid}.invalid`];

test('gethostlatency times getaddrinfo/gethostbyname/gethostbyname2 of a traced process', { skip, timeout: 90000 }, async (t) => {
  const bin = buildC('ghl-victim', VICTIM);
  let shim: string[] = [];
  await withServer(async (env, dir, procs) => {
    const tool = toolOnPty(gethostlatency, env);
    procs.push(tool);
    await tool.waitFor(/TIME\s+PID\s+COMM\s+LATms\s+HOST/);
    await waitAttached(dir, 6);
    const w = runWorkload(env, [bin, ...HOSTS]);
    const pid = /pid (\d+):/.exec(w.out)?.[1];
    assert.ok(pid, w.out);
    await waitLines(tool, new RegExp(`\\s${pid}\\s.*nohost`), 1);
    shim = calls(tool.out, pid!);
    assert.deepEqual(shim, HOSTS.map((h) => `ghl-victim ${h}`));
  });

  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const tool = toolOnPty(gethostlatency);
  try {
    await tool.waitFor(/TIME\s+PID\s+COMM\s+LATms\s+HOST/, 20000);
    const w = runWorkload(undefined, [bin, ...HOSTS]);
    const pid = /pid (\d+):/.exec(w.out)![1];
    await waitLines(tool, new RegExp(`\\s${pid}\\s.*nohost`), 1);
    assert.deepEqual(shim, calls(tool.out, pid));
  } finally {
    await tool.stop('SIGINT');
  }
});
