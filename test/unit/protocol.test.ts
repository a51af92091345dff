// The protocol has two sides: proto.h (C) and protocol.ts. Their numbers and sizes must agree;
// this compiles a probe against the header when a C compiler is present.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Msg, PROTO_MAGIC, PROTO_VERSION, SIZEOF, CallOp, Role, AttachKind, BLOB_STRING, BLOB_UNREADABLE, BLOB_NOTICE, TASK_LAYOUT_FIELDS, encodeTaskLayout } from '../../src-ts/server/protocol';

const root = path.resolve(__dirname, '..', '..', '..');
const haveCc = spawnSync('sh', ['-c', 'command -v cc']).status === 0;

test('protocol.ts agrees with proto.h', { skip: !haveCc && 'no C compiler' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proto-'));
  const src = path.join(dir, 'p.c');
  const structs = Object.keys(SIZEOF);
  fs.writeFileSync(src, `#include <stdio.h>
#include "bpftime/proto.h"
int main(void) {
  printf("magic %u\\nversion %u\\n", BPFTIME_PROTO_MAGIC, BPFTIME_PROTO_VERSION);
  ${structs.map((s) => `printf("sizeof_${s} %zu\\n", sizeof(struct bpftime_${s}));`).join('\n  ')}
  printf("HELLO %d\\nCALL %d\\nRELEASE %d\\nSTATUS %d\\nATTACH_RESULT %d\\nTRACE %d\\n", BPFTIME_MSG_HELLO, BPFTIME_MSG_CALL, BPFTIME_MSG_RELEASE, BPFTIME_MSG_STATUS, BPFTIME_MSG_ATTACH_RESULT, BPFTIME_MSG_TRACE);
  printf("HELLO_REPLY %d\\nREPLY %d\\nSTATUS_REPLY %d\\nATTACH %d\\nDETACH %d\\n", BPFTIME_MSG_HELLO_REPLY, BPFTIME_MSG_REPLY, BPFTIME_MSG_STATUS_REPLY, BPFTIME_MSG_ATTACH, BPFTIME_MSG_DETACH);
  printf("OP_BPF %d\\nOP_PERF %d\\nOP_IOCTL %d\\nOP_OPEN %d\\nOP_ACCESS %d\\n", BPFTIME_OP_BPF, BPFTIME_OP_PERF_EVENT_OPEN, BPFTIME_OP_IOCTL, BPFTIME_OP_OPEN, BPFTIME_OP_ACCESS);
  printf("OP_BPFFS %d\\n", BPFTIME_OP_BPFFS);
  printf("ROLE_TOOL %d\\nROLE_AGENT %d\\nROLE_CLI %d\\n", BPFTIME_ROLE_TOOL, BPFTIME_ROLE_AGENT, BPFTIME_ROLE_CLI);
  printf("UPROBE %d\\nURETPROBE %d\\nSYSCALL_TP %d\\nTIMER %d\\n", BPFTIME_ATTACH_UPROBE, BPFTIME_ATTACH_URETPROBE, BPFTIME_ATTACH_SYSCALL_TP, BPFTIME_ATTACH_TIMER);
  printf("BLOB_STRING %u\\nBLOB_UNREADABLE %u\\nBLOB_NOTICE %u\\n", BPFTIME_BLOB_STRING, BPFTIME_BLOB_UNREADABLE, BPFTIME_BLOB_NOTICE);
  printf("DETACH_PROCESS %d\\nDETACH_PROCESS_REPLY %d\\nAGENT_QUIT %d\\n", BPFTIME_MSG_DETACH_PROCESS, BPFTIME_MSG_DETACH_PROCESS_REPLY, BPFTIME_MSG_AGENT_QUIT);
  printf("CANCEL %d\\n", BPFTIME_MSG_CANCEL);
  printf("PROG %d\\n", BPFTIME_MSG_PROG);
  return 0;
}
`);
  execFileSync('cc', ['-I', path.join(root, 'src-native', 'include'), '-o', path.join(dir, 'p'), src]);
  const got = Object.fromEntries(execFileSync(path.join(dir, 'p'), { encoding: 'utf8' }).trim().split('\n').map((l) => {
    const [k, v] = l.split(' ');
    return [k, Number(v)];
  }));
  assert.equal(got.magic, PROTO_MAGIC);
  assert.equal(got.version, PROTO_VERSION);
  for (const s of structs) assert.equal(got[`sizeof_${s}`], SIZEOF[s as keyof typeof SIZEOF], `sizeof struct bpftime_${s}`);
  const msgs: Record<string, number> = {
    HELLO: Msg.Hello, CALL: Msg.Call, RELEASE: Msg.Release, STATUS: Msg.Status, ATTACH_RESULT: Msg.AttachResult,
    TRACE: Msg.Trace, HELLO_REPLY: Msg.HelloReply, REPLY: Msg.Reply, STATUS_REPLY: Msg.StatusReply, ATTACH: Msg.Attach, DETACH: Msg.Detach,
    OP_BPF: CallOp.Bpf, OP_PERF: CallOp.PerfEventOpen, OP_IOCTL: CallOp.Ioctl, OP_OPEN: CallOp.Open, OP_ACCESS: CallOp.Access,
    OP_BPFFS: CallOp.Bpffs,
    ROLE_TOOL: Role.Tool, ROLE_AGENT: Role.Agent, ROLE_CLI: Role.Cli,
    UPROBE: AttachKind.Uprobe, URETPROBE: AttachKind.Uretprobe, SYSCALL_TP: AttachKind.SyscallTracepoint, TIMER: AttachKind.Timer,
    BLOB_STRING, BLOB_UNREADABLE, BLOB_NOTICE,
    DETACH_PROCESS: Msg.DetachProcess, DETACH_PROCESS_REPLY: Msg.DetachProcessReply, AGENT_QUIT: Msg.AgentQuit,
    PROG: Msg.Prog, CANCEL: Msg.Cancel,
  };
  for (const [k, v] of Object.entries(msgs)) assert.equal(got[k], v, k);
});

test('the task_struct layout message agrees with proto.h, field by field', { skip: !haveCc && 'no C compiler' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proto-'));
  const src = path.join(dir, 'p.c');
  fs.writeFileSync(src, `#include <stdio.h>
#include <stddef.h>
#include "bpftime/proto.h"
int main(void) {
  printf("TASK_LAYOUT %d\\n", BPFTIME_MSG_TASK_LAYOUT);
  ${TASK_LAYOUT_FIELDS.map(([f]) => `printf("${f} %zu %zu\\n", offsetof(struct bpftime_task_layout, ${f}), sizeof(((struct bpftime_task_layout *)0)->${f}));`).join('\n  ')}
  return 0;
}
`);
  execFileSync('cc', ['-I', path.join(root, 'src-native', 'include'), '-o', path.join(dir, 'p'), src]);
  const lines = execFileSync(path.join(dir, 'p'), { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(' '));
  assert.equal(Number(lines[0][1]), Msg.TaskLayout);
  TASK_LAYOUT_FIELDS.forEach(([f], i) => {
    assert.deepEqual(lines[i + 1], [f, String(i * 4), '4'], `struct bpftime_task_layout.${f}`);
  });
  assert.equal(TASK_LAYOUT_FIELDS.length * 4, SIZEOF.task_layout);
});

test('encodeTaskLayout: the layout in field order; none says "no stand-ins"', () => {
  const l = {
    taskSize: 3264, credSize: 184, pid: 1264, tgid: 1268, realParent: 1280, parent: 1288, groupLeader: 1328, comm: 1752,
    commLen: 16, flags: 44, startTime: 1552, startBoottime: 1560, exitCode: 1164, realCred: 1728, cred: 1736,
    credUid: 8, credGid: 12, credEuid: 24, credEgid: 28,
  };
  const b = encodeTaskLayout(l);
  assert.equal(b.length, SIZEOF.task_layout);
  TASK_LAYOUT_FIELDS.forEach(([, key], i) => assert.equal(b.readInt32LE(i * 4), key ? l[key] : 0, String(key)));
  const none = encodeTaskLayout(null);
  assert.equal(none.readUInt32LE(0), 0); // task_size 0: no stand-ins
  assert.equal(none.readInt32LE(2 * 4), -1); // pid: absent
  assert.equal(none.readUInt32LE(8 * 4), 0); // comm_len
});
