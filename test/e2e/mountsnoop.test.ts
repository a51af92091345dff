// Stock libbpf-tools mountsnoop (Debian's binary, unmodified) under the shim. Its programs keep
// a perf-buffer fallback behind `bpf_core_type_exists(struct bpf_ringbuf)`; with ring buffers
// offered, libbpf does not create the fallback's map and poisons the instruction that loads it,
// and the load only succeeds because the verifier proves that code dead (src-ts/verifier). A
// workload in a private mount namespace mounts a tmpfs, unmounts it and fails a mount on a
// missing directory; each call is reported with its arguments and result, as on the kernel, and
// with the id of the namespace it ran in (task->nsproxy->mnt_ns->ns.inum, which the workload
// reads from /proc/self/ns/mnt).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, isRoot, withServer } from './harness';
import { buildC, kernelToolsUsable, runWorkload, toolOnPty, waitAttached, waitLines } from './tools';

const mountsnoop = '/usr/sbin/mountsnoop';

const WORKLOAD = `#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (unshare(CLONE_NEWNS) || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL)) { perror("private namespace"); return 1; }
  int a = mount("bpftime-test", argv[1], "tmpfs", MS_NOSUID | MS_NODEV, "size=1m");
  int b = umount2(argv[1], MNT_DETACH);
  int c = mount("bpftime-test", argv[2], "tmpfs", MS_RDONLY, NULL);
  char ns[64] = "";
  if (readlink("/proc/self/ns/mnt", ns, sizeof(ns) - 1) < 0) perror("readlink");
  printf("pid %d: %d %d %d %s\\n", getpid(), a, b, c, ns);
  return 0;
}
`;

const skip =
  (!fs.existsSync(mountsnoop) && 'libbpf-tools not installed') || (!haveCommand('cc') && 'no C compiler') || (!isRoot && 'mount needs root');

/** The workload's events: pid, tid, MNT_NS and the CALL column. */
function events(out: string, pid: string): string[] {
  const re = /^ms-victim\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*?)\s*$/;
  return out
    .split('\n')
    .map((l) => re.exec(l.replace(/\r$/, '')))
    .filter((m): m is RegExpExecArray => !!m && m[1] === pid)
    .map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
}

test('mountsnoop reports mount and umount calls as the kernel does', { skip, timeout: 90000 }, async (t) => {
  const bin = buildC('ms-victim', WORKLOAD);
  const dir = path.join(path.dirname(bin), 'mnt');
  fs.mkdirSync(dir);
  const missing = path.join(path.dirname(bin), 'missing');

  let shimEvents: string[] = [];
  await withServer(async (env, runtime, procs) => {
    const tool = toolOnPty(mountsnoop, env);
    procs.push(tool);
    await tool.waitFor(/COMM\s+PID\s+TID\s+MNT_NS\s+CALL/);
    await waitAttached(runtime, 4);
    const w = runWorkload(env, [bin, dir, missing]);
    assert.equal(w.status, 0, w.out);
    const [, pid, ns] = /pid (\d+): 0 0 -1 mnt:\[(\d+)\]/.exec(w.out) ?? [];
    assert.ok(pid, w.out);
    await waitLines(tool, new RegExp(`^ms-victim\\s+${pid}\\s.*umount|^ms-victim\\s+${pid}\\s.*-ENOENT`), 2);
    shimEvents = events(tool.out, pid!);
    // Flags are named by mountsnoop's own table, which calls MS_REC "MS_VERBOSE" and decodes
    // umount's MNT_DETACH (2) with the mount flags: so does it on the kernel.
    // MNT_NS: the private namespace the workload made before its first mount
    assert.deepEqual(shimEvents, [
      `${pid} ${pid} ${ns} mount("none", "/", "", MS_VERBOSE | MS_PRIVATE, "") = 0`,
      `${pid} ${pid} ${ns} mount("bpftime-test", "${dir}", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") = 0`,
      `${pid} ${pid} ${ns} umount("${dir}", MS_NOSUID) = 0`,
      `${pid} ${pid} ${ns} mount("bpftime-test", "${missing}", "tmpfs", MS_RDONLY, "") = -ENOENT`,
    ]);
  });

  // The kernel as reference: the same workload, the same tool on the kernel, the same lines (each
  // run makes a namespace of its own: MNT_NS is the id the workload printed, on both sides).
  const noKernel = kernelToolsUsable();
  if (noKernel) {
    t.diagnostic(noKernel);
    return;
  }
  const kernelTool = toolOnPty(mountsnoop);
  try {
    const header = await kernelTool.waitFor(/COMM\s+PID\s+TID\s+MNT_NS\s+CALL|failed|error/i, 20000);
    if (!/CALL/.test(header[0])) {
      t.diagnostic(`mountsnoop does not run on this kernel: ${kernelTool.out}`);
      return;
    }
    const w = runWorkload(undefined, [bin, dir, missing]);
    assert.equal(w.status, 0, w.out);
    const [, pid, ns] = /pid (\d+): 0 0 -1 mnt:\[(\d+)\]/.exec(w.out)!;
    await waitLines(kernelTool, new RegExp(`^ms-victim\\s+${pid}\\s.*-ENOENT`), 1);
    const kernelEvents = events(kernelTool.out, pid);
    const own = (l: string) => l.replace(/^\d+ \d+ \d+ /, '');
    assert.ok(kernelEvents.every((l) => l.startsWith(`${pid} ${pid} ${ns} `)), kernelEvents.join('\n'));
    assert.deepEqual(shimEvents.map(own), kernelEvents.map(own));
  } finally {
    await kernelTool.stop('SIGINT');
  }
});
