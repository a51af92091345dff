// The events around an exec, as the kernel delivers them to syscall tracepoints: sys_enter_execve
// in the old image (its comm), sys_exit_execve in the new one (ret 0, the new comm), and the new
// image traced again (its own execve seen). Stock bpftrace with a pid filter watches a shell that,
// once the tool is ready, execs a shell that execs echo: under bpftime (the target started with the
// agent before the tool) and, where the kernel path exists, on the kernel; the lines must agree.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, tmpRuntimeDir, stopServer } from './harness';

const program = (pid: number) =>
  `BEGIN { printf("ready\\n"); } ` +
  `tracepoint:syscalls:sys_enter_execve /pid == ${pid}/ { printf("enter %s %s\\n", comm, str(args->filename)); } ` +
  `tracepoint:syscalls:sys_exit_execve /pid == ${pid}/ { printf("exit %d %s\\n", args->ret, comm); }`;
const family = `echo pid=$$; read go; exec /bin/sh -c 'exec /bin/echo done'`;

/** Runs the family under the tool; returns the enter/exit lines the tool printed. */
async function observe(target: (args: string[]) => Proc, tool: (prog: string) => Proc): Promise<string[]> {
  const sh = target(['/bin/sh', '-c', family]);
  let bt: Proc | undefined;
  try {
    const pid = Number((await sh.waitFor(/pid=(\d+)/))[1]);
    bt = tool(program(pid));
    await bt.waitFor(/^ready$/m, 30000);
    sh.write('\n');
    assert.equal(await sh.exited, 0, sh.out);
    assert.match(sh.out, /^done$/m);
    await bt.waitFor(/^exit \S+ echo$/m, 15000);
    await new Promise((r) => setTimeout(r, 200));
    await bt.stop('SIGINT');
    return bt.out.split('\n').filter((l) => /^(enter|exit) /.test(l));
  } finally {
    sh.child.stdin?.end();
    await sh.stop('SIGKILL');
    await bt?.stop('SIGKILL');
  }
}

const expected = ['enter sh /bin/sh', 'exit 0 sh', 'enter sh /bin/echo', 'exit 0 echo'];

test('execve: enter in the old image, exit in the new one, the new image traced again (bpftrace)', { skip: !haveCommand('bpftrace') && 'bpftrace not installed', timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  try {
    const ours = await observe(
      (args) => new Proc(process.execPath, [cli, 'start', ...args], env, { stdin: true }),
      (prog) => new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', prog], env),
    );
    assert.deepEqual(ours, expected);
  } finally {
    stopServer(dir);
  }
});

test('the kernel prints the same execve lines (same tool, same family)', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!isRoot && 'kernel BPF needs root') || (!fs.existsSync('/sys/kernel/tracing/events/syscalls/sys_enter_execve') && 'no tracefs syscall events (mount -t tracefs nodev /sys/kernel/tracing)'), timeout: 90000 }, async () => {
  const kernel = await observe(
    (args) => new Proc(args[0], args.slice(1), process.env, { stdin: true }),
    (prog) => new Proc('bpftrace', ['-e', prog], process.env),
  );
  assert.deepEqual(kernel, expected, 'the kernel itself');
});
