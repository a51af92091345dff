// bcc's Python tools (Debian's bpfcc-tools 0.26, unmodified) under the shim: each runs a
// deterministic workload of test/programs/bcc_victim.c (or the USDT example, or bash) under the
// agent, and the test asserts on exactly what the tool prints. Where the kernel can run BPF
// (root, tracefs), the same workload under the kernel gives the reference and both must agree.
// bcc is a C++ library inside Python: it compiles with clang against the kernel headers
// (scripts/setup.sh links them), loads through bpf(), attaches uprobes with perf_event_open,
// reads perf buffers with epoll; all of it goes through the shim.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, root, shimLib, withServer } from './harness';
import { Mode, Scenario, SIGINT_DEFAULT, bccMissing, doneLine, sbin, shimAndKernel as runScenario } from './bcc-scenario';

const usdtVictim = path.join(root, 'examples', 'usdt', 'usdt_victim');
const skip = bccMissing();
if (skip) console.log(`# bcc tests skipped: ${skip}`);

let victimBin = '';
const COMM = 'bccv';
function victim(): string {
  if (!victimBin) {
    // A short path: bcc 0.26's Python passes stack garbage as the semaphore offset, so on the
    // kernel as here some attaches fall back to uprobe_events (when the garbage is odd), whose
    // event names (made of /proc/PID/root/<path> and two pids) must stay under 64 characters.
    victimBin = path.join(fs.mkdtempSync('/tmp/b'), COMM);
    execFileSync('cc', ['-O2', '-g', '-o', victimBin, path.join(root, 'test', 'programs', 'bcc_victim.c')]);
  }
  return victimBin;
}

/** A scenario whose tool names the victim as {VICTIM}. */
function shimAndKernel(t: { diagnostic: (s: string) => void }, sc: Scenario, check: (out: string, pid: number, mode: Mode) => unknown): Promise<void> {
  return runScenario(t, { ...sc, vars: { VICTIM: victimBin, ...sc.vars } }, check);
}

/** trace's event lines for pid, without the pid/tid columns. */
function traceEvents(out: string, pid: number): string[] {
  const re = new RegExp(`^${pid}\\s+${pid}\\s+(\\S+)\\s+(\\S+)\\s*(.*?)\\s*$`, 'gm');
  return [...out.matchAll(re)].map((m) => `${m[1]} ${m[2]} ${m[3]}`.trim());
}

test('trace-bpfcc: uprobe with arguments and uretprobe with the return value', { skip, timeout: 240000 }, async (t) => {
  victim();
  const N = 5;
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('trace-bpfcc'), '-p', '{PID}', '{VICTIM}:bcc_add "%d %d", arg1, arg2', 'r:{VICTIM}:bcc_add "ret %d", retval'],
    ready: /^PID\s+TID\s+COMM\s+FUNC/m,
    steps: [`add ${N}`],
    done: doneLine,
    until: (out) => new RegExp(`bcc_add\\s+ret ${11 * (N - 1)}[ \\t]*\\r?\\n`).test(out), // the whole line (a SIGINT may split one)
  }, (out, pid) => {
    const ev = traceEvents(out, pid);
    // Entries and returns come through two perf buffers: each stream in order, interleaving free.
    const entries = ev.filter((e) => !/ ret /.test(e));
    const rets = ev.filter((e) => / ret /.test(e));
    const want = [...Array(N).keys()];
    assert.deepEqual(entries, want.map((i) => `${COMM} bcc_add ${i} ${10 * i}`));
    assert.deepEqual(rets, want.map((i) => `${COMM} bcc_add ret ${11 * i}`));
    return ev.slice().sort();
  });
});

test('trace-bpfcc -t -u: event times from bpf_ktime_get_ns, on the tool\'s clock', { skip, timeout: 240000 }, async (t) => {
  victim();
  // trace puts each event at first_ts_real + (ktime - first_ts), first_ts being the tool's own
  // CLOCK_MONOTONIC at start: times fall within this run's wall-clock span only when the
  // programs' bpf_ktime_get_ns and the tool's clock agree, and the victim's nap shows as the gap.
  const begin = Date.now();
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('trace-bpfcc'), '-t', '-u', '-p', '{PID}', '{VICTIM}:bcc_add "%d %d", arg1, arg2'],
    ready: /^TIME\s+PID\s+TID\s+COMM\s+FUNC/m,
    steps: ['add 1', 'nap 500', 'add 1'],
    done: doneLine,
    until: (out) => (out.match(/bcc_add\s+0 0\s*$/gm) ?? []).length === 2,
  }, (out, pid) => {
    const end = Date.now() / 1000;
    const ev = [...out.matchAll(new RegExp(`^(\\d+\\.\\d{6})\\s+${pid}\\s+${pid}\\s+(\\S+)\\s+(\\S+)\\s+(.*?)\\s*$`, 'gm'))];
    assert.equal(ev.length, 2);
    const [a, b] = ev.map((m) => Number(m[1]));
    assert.ok(a >= begin / 1000 - 0.05 && b <= end + 0.05, `event times ${a}, ${b} outside this run (${begin / 1000} .. ${end})`);
    assert.ok(b - a >= 0.5 && b - a < 5, `the 500 ms nap between the events shows as ${b - a} s`);
    return ev.map((m) => `${m[2]} ${m[3]} ${m[4]}`);
  });
});

test('trace-bpfcc -U: the user stack of each event, symbolised', { skip, timeout: 240000 }, async (t) => {
  victim();
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('trace-bpfcc'), '-U', '-p', '{PID}', '{VICTIM}:bcc_add "%d", arg2'],
    ready: /^PID\s+TID\s+COMM\s+FUNC/m,
    steps: ['add 2'],
    done: doneLine,
    until: (out) => (out.match(/^\s+bcc_add\+0x0 \[bccv\]$/gm) ?? []).length === 2,
  }, (out, pid) => {
    // each event line, then its stack: bcc_add at the probe (a leaf without a frame pointer,
    // so the walk ends there, on the kernel too)
    const blocks = out.split(new RegExp(`^${pid}\\s+${pid}\\s+`, 'm')).slice(1).map((b) => b.trim().split(/\s*\n\s*/).map((l) => l.replace(/\s+/g, ' ')));
    assert.deepEqual(blocks, [[`${COMM} bcc_add 0`, `bcc_add+0x0 [${COMM}]`], [`${COMM} bcc_add 10`, `bcc_add+0x0 [${COMM}]`]]);
    return blocks;
  });
});

test('trace-bpfcc: syscall tracepoints sys_enter_openat / sys_exit_openat', { skip, timeout: 240000 }, async (t) => {
  victim();
  const missing = `/nonexistent-bcc-${process.pid}`;
  await shimAndKernel(t, {
    // on one CPU: bcc reads its per-CPU perf buffers CPU by CPU, so a victim that moves between
    // CPUs has its events printed out of order (on a kernel too; seen once in CI)
    target: ['taskset', '-c', '0', victimBin],
    tool: [sbin('trace-bpfcc'), '-p', '{PID}', 't:syscalls:sys_enter_openat "dfd %d flags %x", args->dfd, args->flags', 't:syscalls:sys_exit_openat "ret %d", args->ret'],
    ready: /^PID\s+TID\s+COMM\s+FUNC/m,
    steps: ['open 3 /etc/hostname', `open 2 ${missing}`],
    done: doneLine,
    until: (out) => (out.match(/sys_exit_openat\s+ret -2\s*$/gm) ?? []).length === 2,
  }, (out, pid) => {
    const ev = traceEvents(out, pid);
    const enters = ev.filter((e) => e.includes('sys_enter_openat'));
    const exits = ev.filter((e) => e.includes('sys_exit_openat')).map((e) => e.replace(/ret ([3-9]|\d\d+)$/, 'ret <fd>'));
    assert.deepEqual(enters, Array(5).fill(`${COMM} sys_enter_openat dfd -100 flags 0`));
    assert.deepEqual(exits, [...Array(3).fill(`${COMM} sys_exit_openat ret <fd>`), ...Array(2).fill(`${COMM} sys_exit_openat ret -2`)]);
    return [enters, exits];
  });
});

test('trace-bpfcc: USDT probe arguments, semaphore raised only while traced', { skip: skip || (!fs.existsSync(usdtVictim) && 'examples not built'), timeout: 240000 }, async (t) => {
  // a copy at a short path, for the event names of bcc's uprobe_events fallback (see victim())
  const usdt = path.join(path.dirname(victim()), 'usdtv');
  fs.copyFileSync(usdtVictim, usdt);
  fs.chmodSync(usdt, 0o755);
  await shimAndKernel(t, {
    target: [usdt],
    tool: [sbin('trace-bpfcc'), '-p', '{PID}', `u:${usdt}:request "%d %s", arg1, arg2`],
    ready: /^PID\s+TID\s+COMM\s+FUNC/m,
    steps: ['4'],
    done: () => /done 4 fired 4/, // bcc raised the semaphore through /proc/PID/mem
    until: (out) => /request\s+3 label[^\n]*\n/.test(out), // the whole line (a SIGINT may split one)
  }, (out, pid) => {
    const ev = traceEvents(out, pid);
    assert.deepEqual(ev, [0, 1, 2, 3].map((i) => `usdtv request ${i} label`));
    return ev;
  });
});

/** funccount's tables (one per interval, each counting since the last), summed per function. */
function funccountTable(out: string): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const table of out.split(/^FUNC\s+COUNT\s*$/m).slice(1)) {
    for (const m of table.matchAll(/^(\S+)\s+(\d+)\s*$/gm)) sum[m[1]] = (sum[m[1]] ?? 0) + Number(m[2]);
  }
  return sum;
}

test('funccount-bpfcc: a victim function by wildcard, and libc malloc, per process', { skip, timeout: 300000 }, async (t) => {
  victim();
  const steps = ['add 7', 'alloc 5 64', 'free', 'add 2'];
  await shimAndKernel(t, {
    target: [victimBin],
    // -i 1: a table every second (SIGINT during its start-up would lose the one at exit)
    tool: [sbin('funccount-bpfcc'), '-i', '1', '-p', '{PID}', '{VICTIM}:bcc_*'],
    ready: /^Tracing 1 functions for/m,
    steps,
    done: doneLine,
    until: (out) => funccountTable(out).bcc_add === 9,
  }, (out) => {
    assert.deepEqual(funccountTable(out), { bcc_add: 9 });
    return funccountTable(out);
  });
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('funccount-bpfcc'), '-i', '1', '-p', '{PID}', 'c:malloc'],
    ready: /^Tracing 1 functions for/m,
    steps,
    done: doneLine,
    until: (out) => (funccountTable(out).malloc ?? 0) >= 5,
  }, (out) => {
    assert.deepEqual(funccountTable(out), { malloc: 5 });
    return funccountTable(out);
  });
});

/** argdist's last report (with -c every report holds everything so far): the frequency counts
 * as "value:count" and the histogram buckets. */
function argdistLast(out: string): { counts: string[]; hist: Record<string, number> } {
  const reports = out.split(/^\[\d\d:\d\d:\d\d\]$/m);
  const last = reports[reports.length - 1];
  const counts = [...last.matchAll(/^\s+(\d+)\s+b = (\d+)\s*$/gm)].map((m) => `${m[2]}:${m[1]}`).sort();
  const hist = Object.fromEntries([...last.matchAll(/^\s+(\d+) -> (\d+)\s+: (\d+)/gm)].map((m) => [`${m[1]}-${m[2]}`, Number(m[3])]));
  return { counts, hist };
}

test('argdist-bpfcc: a frequency count of an argument and a histogram of return values', { skip, timeout: 240000 }, async (t) => {
  victim();
  const complete = (out: string) => {
    const { counts, hist } = argdistLast(out);
    return counts.length === 7 && Object.values(hist).reduce((a, b) => a + b, 0) === 7;
  };
  await shimAndKernel(t, {
    target: [victimBin],
    // -c: counts accumulate over intervals (a call may fall in any of them)
    tool: [sbin('argdist-bpfcc'), '-p', '{PID}', '-i', '1', '-c', '-C', 'p:{VICTIM}:bcc_add(int a, int b):int:b', '-H', 'r:{VICTIM}:bcc_add():int:$retval'],
    ready: /^\[\d\d:\d\d:\d\d\]$/m, // the first interval: attached
    steps: ['add 7'],
    done: doneLine,
    until: (out) => complete(out.slice(0, out.lastIndexOf('['))), // a finished report
  }, (out) => {
    const finished = out.slice(0, out.lastIndexOf('['));
    const { counts, hist } = argdistLast(complete(out) ? out : finished);
    assert.deepEqual(counts, [0, 10, 20, 30, 40, 50, 60].map((b) => `${b}:1`).sort());
    // return values 0, 11, 22, 33, 44, 55, 66
    assert.deepEqual(hist, { '0-1': 1, '2-3': 0, '4-7': 0, '8-15': 1, '16-31': 1, '32-63': 3, '64-127': 1 });
    return [counts, hist];
  });
});

test('funclatency-bpfcc: latency of a user function, entry and return paired', { skip, timeout: 240000 }, async (t) => {
  victim();
  const counted = (out: string) => [...out.matchAll(/count: (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('funclatency-bpfcc'), '-i', '1', '-p', '{PID}', '-u', '{VICTIM}:bcc_add'],
    ready: /^Tracing 1 functions for/m,
    steps: ['add 7'],
    done: doneLine,
    until: (out) => counted(out) === 7,
  }, (out) => {
    assert.equal(counted(out), 7);
    const hist = [...out.matchAll(/^\s+\d+ -> \d+\s+: (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(hist, 7); // every call in the histogram (its buckets are timing: not compared)
    return counted(out);
  });
});

/** syscount's tables (one per interval), summed per syscall. */
function syscountTable(out: string): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const table of out.split(/^SYSCALL\s+COUNT\s*$/m).slice(1)) {
    for (const m of table.matchAll(/^(\w+)\s+(\d+)\s*$/gm)) sum[m[1]] = (sum[m[1]] ?? 0) + Number(m[2]);
  }
  return sum;
}

test('syscount-bpfcc: syscalls of a process by raw_syscalls:sys_exit', { skip, timeout: 240000 }, async (t) => {
  victim();
  const line = 'open 3 /etc/hostname';
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('syscount-bpfcc'), '-i', '1', '-p', '{PID}'],
    ready: /^Tracing syscalls/m,
    steps: [line],
    done: doneLine,
    until: (out) => syscountTable(out).close === 3,
  }, (out) => {
    // the victim reads its line a byte at a time (the read waiting for the next line has not
    // returned yet), opens and closes 3 times, and answers in three writes
    assert.deepEqual(syscountTable(out), { read: line.length + 1, openat: 3, close: 3, write: 3 });
    return syscountTable(out);
  });
});

test('gethostlatency-bpfcc: name lookups with the host read from a map value', { skip, timeout: 240000 }, async (t) => {
  // the return probe copies comm and host out of a hash map value with bpf_probe_read_kernel:
  // map memory is kernel memory to a program, as on the kernel
  const events = (out: string, pid: number) =>
    [...out.matchAll(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+${pid}\\s+(\\S+)\\s+[\\d.]+\\s+(\\S*)\\s*$`, 'gm'))].map((m) => `${m[1]} ${m[2]}`);
  let pidSeen = 0;
  await shimAndKernel(t, {
    target: ['/bin/sh', '-c', 'echo ready pid=$$; read x; exec getent hosts localhost'],
    tool: [sbin('gethostlatency-bpfcc'), '-p', '{PID}'],
    ready: /^TIME\s+PID\s+COMM/m,
    // gethostlatency prints its header before it opens its perf buffer: getent exec'd before
    // that loses its events (on a kernel too; once seen in CI under load)
    untilPolling: true,
    steps: ['go'],
    done: () => /localhost/,
    until: (out) => (pidSeen = Number(/^\d\d:\d\d:\d\d\s+(\d+)/m.exec(out)?.[1] ?? 0)) > 0 && events(out, pidSeen).length >= 2,
  }, (out, pid) => {
    // glibc's getent: getaddrinfo, then gethostbyname2
    assert.deepEqual(events(out, pid), ['getent localhost', 'getent localhost']);
    return events(out, pid);
  });
});

test('stackcount-bpfcc: call stacks of a user function, counted', { skip, timeout: 240000 }, async (t) => {
  victim();
  // per interval: each stack's frames, then its count (user stacks of a uprobe)
  const counts = (out: string) => {
    const sum: Record<string, number> = {};
    for (const m of out.matchAll(/^((?:  \S.*\n)+)\s+(\d+)\n/gm)) {
      const stack = m[1].trim().split(/\s*\n\s*/).join(';');
      sum[stack] = (sum[stack] ?? 0) + Number(m[2]);
    }
    return sum;
  };
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('stackcount-bpfcc'), '-i', '1', '-p', '{PID}', '{VICTIM}:bcc_add'],
    ready: /^Tracing 1 functions for/m,
    steps: ['add 4', 'add 3'],
    done: doneLine,
    until: (out) => Object.values(counts(out)).reduce((a, b) => a + b, 0) === 7,
  }, (out) => {
    assert.deepEqual(counts(out), { bcc_add: 7 });
    return counts(out);
  });
});

/** memleak's reports: per report, the bytes and allocations its entries add up to and the
 * functions of their innermost frames. */
function memleakReports(out: string): Array<{ bytes: number; allocs: number; top: string[] }> {
  const reports = out.split(/^\[\d\d:\d\d:\d\d\] Top 10 stacks with outstanding allocations:$/m).slice(1);
  return reports.map((r) => {
    const entries = [...r.matchAll(/^\s+(\d+) bytes in (\d+) allocations from stack\n\s+0x[0-9a-f]+\s+(\S+)/gm)];
    return {
      bytes: entries.reduce((s, m) => s + Number(m[1]), 0),
      allocs: entries.reduce((s, m) => s + Number(m[2]), 0),
      top: [...new Set(entries.map((m) => m[3].replace(/\+0x[0-9a-f]+$/, '')))],
    };
  });
}

test('memleak-bpfcc -p: outstanding user allocations with their stacks', { skip, timeout: 240000 }, async (t) => {
  victim();
  const KEPT = 5 * 1000 + 3 * 200;
  await shimAndKernel(t, {
    target: [victimBin],
    tool: [sbin('memleak-bpfcc'), '-p', '{PID}', '1'],
    ready: /Top 10 stacks with outstanding allocations:/, // the first interval: attached
    steps: ['alloc 5 1000', 'alloc 3 200'],
    done: doneLine,
    // memleak reports allocations older than 500 ms: wait for a report with all of them
    until: (out) => memleakReports(out).some((r) => r.bytes === KEPT),
  }, (out) => {
    const full = memleakReports(out).find((r) => r.bytes === KEPT)!;
    assert.equal(full.allocs, 8);
    assert.deepEqual(full.top, ['main']); // the allocating frame, symbolised in the victim
    return full;
  });
});

test('bashreadline-bpfcc: commands typed into an interactive bash', { skip, timeout: 240000 }, async (t) => {
  const marker = `bcc-${process.pid}`;
  const escape = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await shimAndKernel(t, {
    target: ['/bin/bash', '--norc', '--noprofile', '-i'],
    preamble: 'echo ready pid=$$', // the terminal echoes "$$", the shell prints the number
    tool: [sbin('bashreadline-bpfcc')],
    ready: /^TIME\s+PID\s+COMMAND/m,
    // bashreadline opens its perf buffer after printing its header, and bash waits inside
    // readline() when the probe arrives (a uretprobe sees only calls entered after it was
    // placed, as on the kernel): warm up until a line comes through.
    warmUp: { line: 'true warm-up', seen: /true warm-up/ },
    steps: [`echo one-${marker}`, `true two-${marker}`],
    done: (s) => new RegExp(escape(s)),
    // the whole line: stopped between its text and its newline, the tool dies inside print()
    until: (out) => new RegExp(`true two-${escape(marker)}\\s*\\n`).test(out),
    pty: true,
  }, (out, pid) => {
    const lines = [...out.matchAll(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+${pid}\\s+(.*?)\\s*$`, 'gm'))].map((m) => m[1]).filter((l) => l !== 'true warm-up');
    assert.deepEqual(lines, [`echo one-${marker}`, `true two-${marker}`]);
    return lines;
  });
});

test('vfsstat-bpfcc: its fentry/fexit programs on VFS functions are refused, and the server log says why', { skip, timeout: 120000 }, async () => {
  // bcc's vfsstat attaches to kernel VFS functions (fentry/fexit when the kernel has BTF,
  // kprobes otherwise): nothing of it can run in userspace (fentry/fexit on syscall entry
  // functions can: syscall-kprobes.test.ts). It must fail at attach, not hang.
  await withServer(async (env, _dir, procs, server) => {
    const tool = new Proc('/usr/bin/python3', ['-c', SIGINT_DEFAULT, sbin('vfsstat-bpfcc'), '1', '1'], { ...env, LD_PRELOAD: shimLib, PYTHONUNBUFFERED: '1' });
    procs.push(tool);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([tool.exited, new Promise((r) => (timer = setTimeout(() => r('running'), 90000)))]);
    clearTimeout(timer);
    assert.notEqual(code, 0, tool.out);
    assert.notEqual(code, 'running', `vfsstat-bpfcc neither attached nor failed:\n${tool.out}`);
    assert.match(tool.out, /Failed to attach BPF to (entry|exit) kernel func/);
    await server.waitFor(/\[\d+\]: program vfs_\w+ is an fentry\/fexit program on a kernel function other than a syscall entry function \(__x64_sys_<name>\), which cannot run in userspace; refused with EINVAL/);
  }, 'SIGTERM');
});
