// Stock libbpf-tools javagc (Debian's binary, unmodified): USDT probes hotspot:gc__begin/gc__end
// and mem__pool__gc__begin/end in OpenJDK's libjvm.so (its .note.stapsdt), attached through
// libbpf's USDT support (uprobes with cookies, argument specs). A JVM started under the agent
// runs N System.gc() calls with the serial collector; javagc -p PID reports N collections of the
// JVM, as it does on the kernel. The JVM runs before the tool starts and its first round counts:
// once javagc has opened its perf buffers (the header is printed after that), every agent has
// them (the PERF_EVENT_ARRAY update is answered only then).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, cli } from './harness';
import { kernelToolsUsable, toolOnPty, waitInstalled, waitLines, withServer } from './tools';

const javagc = '/usr/sbin/javagc';
const JDK = '/usr/lib/jvm/java-17-openjdk-amd64';
const N = 5;

const SOURCE = `public class GcLoop {
  public static void main(String[] a) throws Exception {
    System.out.println("pid " + ProcessHandle.current().pid());
    java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
    int n = Integer.parseInt(a[0]);
    while (in.readLine() != null) {
      for (int i = 0; i < n; i++) {
        byte[][] junk = new byte[64][];
        for (int j = 0; j < 64; j++) junk[j] = new byte[65536];
        System.gc();
      }
      System.out.println("done");
    }
  }
}
`;

function compile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'javagc-'));
  fs.writeFileSync(path.join(dir, 'GcLoop.java'), SOURCE);
  execFileSync(`${JDK}/bin/javac`, ['GcLoop.java'], { cwd: dir });
  return dir;
}

const skip = (!fs.existsSync(javagc) && 'libbpf-tools not installed') || (!fs.existsSync(`${JDK}/bin/javac`) && 'OpenJDK 17 not installed');

/** javagc's lines for pid (TIME CPU PID GC-TIME). */
const gcLines = (out: string, pid: string) => out.split('\n').filter((l) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+\\d+\\s+${pid}\\s+\\d+\\s*\\r?$`).test(l));

async function oneRound(jvm: Proc, tool: Proc, pid: string, seen: number): Promise<number> {
  const rounds = (jvm.out.match(/done/g) ?? []).length;
  jvm.write('go\n');
  await jvm.waitFor(new RegExp(`(done[\\s\\S]*){${rounds + 1}}`), 30000);
  await waitLines(tool, new RegExp(`\\s${pid}\\s`), seen + N);
  await new Promise((r) => setTimeout(r, 500)); // nothing more should come
  return gcLines(tool.out, pid).length - seen;
}

test('javagc reports the collections of a JVM through HotSpot USDT probes', { skip, timeout: 120000 }, async (t) => {
  const classDir = compile();
  const java = [`${JDK}/bin/java`, '-XX:+UseSerialGC', '-Xshare:off', '-cp', classDir, 'GcLoop', String(N)];
  await withServer(async (env, dir, procs) => {
    const jvm = new Proc(process.execPath, [cli, 'start', ...java], env, { stdin: true });
    procs.push(jvm);
    const pid = (await jvm.waitFor(/pid (\d+)/, 30000))[1];
    const tool = toolOnPty(`${javagc} -p ${pid} -t 1`, env);
    procs.push(tool);
    await tool.waitFor(/TIME\s+CPU\s+PID\s+GC TIME/, 20000);
    await waitInstalled(dir, pid, 4);
    assert.equal(await oneRound(jvm, tool, pid, 0), N, tool.out);
  });

  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const procs: Proc[] = [];
  try {
    const jvm = new Proc(java[0], java.slice(1), process.env, { stdin: true });
    procs.push(jvm);
    const pid = (await jvm.waitFor(/pid (\d+)/, 30000))[1];
    const tool = toolOnPty(`${javagc} -p ${pid} -t 1`);
    procs.push(tool);
    await tool.waitFor(/TIME\s+CPU\s+PID\s+GC TIME/, 20000);
    assert.equal(await oneRound(jvm, tool, pid, 0), N, tool.out);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGINT');
  }
});
