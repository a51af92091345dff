// bpftrace's `curtask` (bpf_get_current_task) under the shim: fields of the task_struct
// stand-ins read at the offsets bpftrace takes from the kernel's BTF, through pointers
// (real_parent, group_leader, cred, nsproxy), compared with what the traced shell's child really
// is (its namespaces are this test's: /proc/self/ns).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import { Proc, cli, haveCommand, isRoot, withServer } from './harness';
import { waitAttached } from './tools';

const PROG =
  'tracepoint:syscalls:sys_enter_execve /comm == "sh"/ { printf("T comm=%s pid=%d tgid=%d ppid=%d pcomm=%s leader=%d lcomm=%s uid=%d euid=%d kthread=%d exit=%d young=%d mnt=%u uts=%u net=%u node=%s\\n", ' +
  'comm, pid, curtask->tgid, curtask->real_parent->tgid, curtask->real_parent->comm, curtask->group_leader->pid, curtask->group_leader->comm, ' +
  'curtask->cred->uid.val, curtask->cred->euid.val, curtask->flags & 0x00200000, curtask->exit_code, (nsecs - curtask->start_time) < 60000000000, ' +
  'curtask->nsproxy->mnt_ns->ns.inum, curtask->nsproxy->uts_ns->ns.inum, curtask->nsproxy->net_ns->ns.inum, curtask->nsproxy->uts_ns->name.nodename); }';

/** The namespace id /proc/self/ns/<name> shows. */
const nsId = (name: string) => /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/self/ns/${name}`))![1];

test('bpftrace reads curtask fields of a traced process', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!isRoot && 'bpftrace needs root'), timeout: 60000 }, async () => {
  await withServer(async (env, dir, procs) => {
    const tool = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', PROG], env);
    procs.push(tool);
    await tool.waitFor(/Attaching 1 probe/);
    await waitAttached(dir, 1);
    const target = new Proc(process.execPath, [cli, 'start', '/bin/sh', '-c', '/bin/true; echo sh=$$'], env);
    procs.push(target);
    assert.equal(await target.exited, 0);
    const sh = (await target.waitFor(/sh=(\d+)/))[1];
    // The shell's child, just before it execs /bin/true: its own process, the shell its parent.
    const m = await tool.waitFor(new RegExp(`^T comm=sh pid=(\\d+) tgid=(\\d+) ppid=${sh} pcomm=sh leader=(\\d+) lcomm=sh uid=(\\d+) euid=(\\d+) kthread=0 exit=0 young=1 mnt=(\\d+) uts=(\\d+) net=(\\d+) node=(.*)$`, 'm'));
    assert.notEqual(m[1], sh);
    assert.equal(m[2], m[1]); // single-threaded: tgid == pid, and it leads its group
    assert.equal(m[3], m[1]);
    assert.equal(Number(m[4]), process.getuid!());
    assert.equal(Number(m[5]), process.geteuid!());
    assert.deepEqual(m.slice(6, 10), [nsId('mnt'), nsId('uts'), nsId('net'), os.hostname()]);
  });
});
