// Stock bpftrace 0.17 on OpenJDK 17's HotSpot USDT probes: `usdt:<libjvm.so>:hotspot:method__entry`
// with -p on a JVM (examples/java/Workload.java, -XX:+ExtendedDTraceProbes) counts the victim's
// method calls by class and method name, read from the JVM's memory with str(ptr, len). Under the
// shim (the JVM under `bpftime start`) it prints what it prints on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, cli, haveCommand, isRoot, root, withServer } from './harness';
import { kernelToolsUsable, waitInstalled } from './tools';

const JDK = '/usr/lib/jvm/java-17-openjdk-amd64';
const LIBJVM = `${JDK}/lib/server/libjvm.so`;
const skip = (!haveCommand('bpftrace') && 'bpftrace not installed') || (!isRoot && 'bpftrace needs root') ||
  ((!fs.existsSync(`${JDK}/bin/javac`) || !fs.existsSync(LIBJVM)) && 'OpenJDK 17 not installed');

const SCRIPT = `usdt:${LIBJVM}:hotspot:method__entry { @[str(arg1, arg2), str(arg3, arg4)] = count(); }
  interval:ms:100 { printf("tick\\n"); }`;

/** The victim's lines of bpftrace's map: "class method count". */
const workloadCounts = (out: string) =>
  [...out.matchAll(/^@\[(Workload[^,]*), ([^\]]+)\]: (\d+)$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`).sort();

async function run(jvmArgv: string[], env: NodeJS.ProcessEnv | undefined, procs: Proc[], dir?: string): Promise<string[]> {
  const jvm = env ? new Proc(process.execPath, [cli, 'start', ...jvmArgv], env, { stdin: true }) : new Proc(jvmArgv[0], jvmArgv.slice(1), process.env, { stdin: true });
  procs.push(jvm);
  const pid = (await jvm.waitFor(/ready pid=(\d+)/, 30000))[1];
  const args = ['-p', pid, '-e', SCRIPT];
  const bt = env ? new Proc(process.execPath, [cli, 'load', 'bpftrace', ...args], env) : new Proc('bpftrace', args, process.env);
  procs.push(bt);
  await bt.waitFor(/^tick$/m, 60000);
  // bpftrace's attach waits for agents at most a second; a loaded machine may take longer
  if (dir) await waitInstalled(dir, pid, 1);
  jvm.write('calls 7\n');
  await jvm.waitFor(/done calls 7/);
  await new Promise((r) => setTimeout(r, 300));
  await bt.stop('SIGINT');
  return workloadCounts(bt.out);
}

test('bpftrace usdt on HotSpot method__entry counts Java calls by name, as on the kernel', { skip, timeout: 180000 }, async (t) => {
  const classDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-java-'));
  execFileSync(`${JDK}/bin/javac`, ['-d', classDir, path.join(root, 'examples', 'java', 'Workload.java')]);
  const jvmArgv = [`${JDK}/bin/java`, '-XX:+ExtendedDTraceProbes', '-Xint', '-cp', classDir, 'Workload'];
  const want = ['Workload inner 7', 'Workload outer 7', 'Workload run 1'];
  let shim: string[] = [];
  await withServer(async (env, dir, procs) => {
    shim = await run(jvmArgv, env, procs, dir);
  });
  assert.deepEqual(shim, want);
  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const procs: Proc[] = [];
  try {
    assert.deepEqual(await run(jvmArgv, undefined, procs), shim);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
  }
});
