// Stock libbpf-tools whose probes only exist in a kernel fail under the shim the way they fail
// on a kernel without those probes (ENOENT when the tracepoint id or the kprobe is looked up),
// and the server's log says which probe it was and why: sigsnoop without -k
// (signal:signal_generate), exitsnoop (sched:sched_process_exit), runqlat (tp_btf programs on
// sched tracepoints), funclatency on a kernel function (a kprobe other than a syscall's entry).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { kernelToolsUsable, toolOnPty, withServer } from './tools';

const CASES: Array<{ cmd: string; tool: RegExp; server: RegExp }> = [
  {
    cmd: '/usr/sbin/sigsnoop',
    tool: /failed to create tracepoint 'signal\/signal_generate' perf event: No such file or directory/,
    server: /sigsnoop\[\d+\]: tracepoint signal:signal_generate is a kernel tracepoint, not available in userspace/,
  },
  {
    cmd: '/usr/sbin/exitsnoop',
    tool: /failed to create tracepoint 'sched\/sched_process_exit' perf event: No such file or directory/,
    server: /exitsnoop\[\d+\]: tracepoint sched:sched_process_exit is a kernel tracepoint, not available in userspace/,
  },
  {
    cmd: '/usr/sbin/runqlat',
    tool: /prog 'sched_wakeup': failed to attach: Invalid argument/,
    server: /runqlat\[\d+\]: program sched_wakeup is a BTF tracepoint program \(tp_btf\) on a kernel tracepoint, which cannot run in userspace/,
  },
  {
    cmd: '/usr/sbin/funclatency do_sys_open',
    tool: /failed to create kprobe 'do_sys_open\+0x0' perf event: No such file or directory/,
    server: /funclatency\[\d+\]: kprobe:do_sys_open is a kernel probe, not available in userspace \(kprobes on syscall entry functions, __x64_sys_<name>, are\); refused with ENOENT/,
  },
];

for (const c of CASES) {
  const bin = c.cmd.split(' ')[0];
  test(`${c.cmd} fails, naming the kernel probe it needs`, { skip: !fs.existsSync(bin) && 'libbpf-tools not installed', timeout: 60000 }, async () => {
    await withServer(async (env, _dir, procs) => {
      const tool = toolOnPty(c.cmd, env);
      procs.push(tool);
      const code = await tool.exited;
      assert.notEqual(code, 0, tool.out);
      assert.match(tool.out, c.tool);
      await procs[0].waitFor(c.server, 5000);
    });
  });
}

// A CO-RE relocation the running kernel cannot satisfy, in code that runs: libbpf poisons the
// instruction, the verifier refuses it with the kernel's two lines, and libbpf turns them into
// its explanation. bindsnoop 0.26 reads inet_sock.freebind, a bitfield recent kernels dropped:
// whatever the kernel says about it, the shim must say the same.
test('a failed CO-RE relocation is refused with the kernel\'s words', { skip: !fs.existsSync('/usr/sbin/bindsnoop') && 'libbpf-tools not installed', timeout: 60000 }, async (t) => {
  const noKernel = kernelToolsUsable();
  if (noKernel) return t.skip(noKernel);
  const explanation = (out: string) => out.split('\n').filter((l) => /CO-RE relocation|call unknown#|invalid func/.test(l)).map((l) => l.replace(/\r$/, ''));
  const kernel = toolOnPty('/usr/sbin/bindsnoop');
  const kernelCode = await kernel.exited;
  if (kernelCode === 0 || !explanation(kernel.out).length) {
    await kernel.stop();
    return t.skip('bindsnoop loads on this kernel: no failed relocation to compare');
  }
  await withServer(async (env, _dir, procs) => {
    const tool = toolOnPty('/usr/sbin/bindsnoop', env);
    procs.push(tool);
    assert.notEqual(await tool.exited, 0);
    assert.deepEqual(explanation(tool.out), explanation(kernel.out));
  });
});
