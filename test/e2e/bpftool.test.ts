// Stock bpftool, unmodified, under the shim: it walks the objects another tool loaded (the malloc
// example: a hash map, a kprobe program, a perf link, the program's BTF) by id, shows them,
// dumps the program, and reads and writes the map that the program in a traced process fills.
//
// Only commands that leave the machine alone are run: bpftool's pin commands mount a real bpffs
// on /sys/fs/bpf when statfs does not report one there.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';
import { waitInstalled } from './tools';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'malloc', 'malloc');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const skip = !haveCommand('bpftool') ? 'bpftool not installed' : !(fs.existsSync(tool) && fs.existsSync(victim)) ? 'examples not built' : false;

/** Runs bpftool under the shim against the test's runtime; returns what it printed. */
function bpftool(env: NodeJS.ProcessEnv, args: string[]): { out: string; err: string; status: number | null } {
  const r = spawnSync('bpftool', args, { env: { ...env, LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 20000 });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

function json(env: NodeJS.ProcessEnv, args: string[]): any {
  const r = bpftool(env, ['-j', ...args]);
  assert.equal(r.status, 0, `bpftool ${args.join(' ')}: ${r.err}`);
  return JSON.parse(r.out);
}

/** `map lookup` in JSON: the entry, or null when bpftool says the key is not there. */
function lookup(env: NodeJS.ProcessEnv, mapId: number, key: string[]): any {
  const r = bpftool(env, ['-j', 'map', 'lookup', 'id', String(mapId), 'key', ...key]);
  // Not found: -j prints null (plain output says "Not found"), and exits non-zero.
  if (r.status !== 0 && (r.out.trim() === 'null' || /Not found/.test(r.out + r.err))) return null;
  assert.equal(r.status, 0, `bpftool map lookup: ${r.err}`);
  return JSON.parse(r.out).formatted; // the map has BTF: bpftool adds the typed view
}

/** A u32 as the byte list bpftool takes for keys. */
const u32Bytes = (v: number) => [0, 8, 16, 24].map((s) => String((v >>> s) & 0xff));

test('bpftool lists, shows, dumps and edits what a shimmed tool loaded', { skip, timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let t: Proc | undefined;
  let v: Proc | undefined;
  try {
    t = new Proc(process.execPath, [cli, 'load', tool, '-i', '0.3'], env);
    await t.waitFor(/Tracing malloc in .*libc/);

    // Objects, found by walking ids.
    const maps = json(env, ['map', 'list']);
    const counts = maps.find((m: any) => m.name === 'counts');
    assert.ok(counts, `map list: ${JSON.stringify(maps)}`);
    assert.equal(counts.type, 'hash');
    assert.equal(counts.bytes_key, 4);
    assert.equal(counts.bytes_value, 8);
    assert.equal(counts.max_entries, 10240);
    assert.ok(counts.btf_id > 0, 'the map names its BTF');

    const progs = json(env, ['prog', 'list']);
    const prog = progs.find((p: any) => p.name === 'count_calls');
    assert.ok(prog, `prog list: ${JSON.stringify(progs)}`);
    assert.equal(prog.type, 'kprobe');
    assert.equal(prog.gpl_compatible, true);
    assert.match(prog.tag, /^[0-9a-f]{16}$/);
    assert.deepEqual(prog.map_ids, [counts.id]);
    assert.ok(prog.bytes_xlated > 0 && prog.bytes_xlated % 8 === 0);

    const links = json(env, ['link', 'list']);
    assert.deepEqual(links.map((l: any) => [l.type, l.prog_id]), [['perf_event', prog.id]]);

    const btfs = json(env, ['btf', 'list']);
    const btf = btfs.find((b: any) => b.id === counts.btf_id);
    assert.ok(btf, `btf list: ${JSON.stringify(btfs)}`);
    assert.deepEqual(btf.map_ids, [counts.id]);
    assert.equal(btf.kernel, false);

    // The same objects in bpftool's plain output.
    const show = bpftool(env, ['prog', 'show', 'id', String(prog.id)]);
    assert.equal(show.status, 0, show.err);
    assert.match(show.out, new RegExp(`^${prog.id}: kprobe  name count_calls  tag ${prog.tag}  gpl\\n`));
    assert.match(show.out, new RegExp(`map_ids ${counts.id}\\n`));
    const plainMaps = bpftool(env, ['map', 'list']);
    assert.match(plainMaps.out, new RegExp(`^${counts.id}: hash  name counts  flags 0x0\\n\\tkey 4B  value 8B  max_entries 10240`, 'm'));
    assert.match(bpftool(env, ['link', 'list']).out, new RegExp(`^1: perf_event  prog ${prog.id}`, 'm'));

    // Which process holds which probe: BPF_TASK_FD_QUERY over every fd of every process.
    const toolPid = (await queryStatus(dir)).clients.find((c: any) => c.role === 'tool')?.pid;
    const perf = json(env, ['perf', 'list']);
    assert.deepEqual(
      perf.map((p: any) => [p.pid, p.prog_id, p.fd_type, /libc\.so/.test(p.filename), p.offset > 0]),
      [[toolPid, prog.id, 'uprobe', true, true]],
      `perf list: ${JSON.stringify(perf)}`,
    );

    // The program as loaded: helper calls by name, map references by id.
    const xlated = bpftool(env, ['prog', 'dump', 'xlated', 'id', String(prog.id)]);
    assert.equal(xlated.status, 0, xlated.err);
    assert.match(xlated.out, /call bpf_get_current_pid_tgid#14/);
    assert.match(xlated.out, /call bpf_map_lookup_elem#1/);
    assert.match(xlated.out, new RegExp(`r1 = map\\[id:${counts.id}\\]`));
    assert.match(xlated.out, /exit/);

    // The map the program fills in a traced process: bpftool reads the same shared memory.
    v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    await waitInstalled(dir, pid, 1);
    const before = lookup(env, counts.id, u32Bytes(pid));
    const start = before ? Number(before.value) : 0;
    v.write('500\n');
    await v.waitFor(/done 500/);
    const after = lookup(env, counts.id, u32Bytes(pid));
    assert.equal(after.key, pid);
    assert.equal(Number(after.value) - start, 500);
    const dump = json(env, ['map', 'dump', 'id', String(counts.id)]);
    assert.ok(
      dump.some((e: any) => e.formatted.key === pid && e.formatted.value === after.value && e.key.length === 4 && e.value.length === 8),
      `dump: ${JSON.stringify(dump)}`,
    );

    // Writes from bpftool land in the map everyone shares.
    const upd = bpftool(env, ['map', 'update', 'id', String(counts.id), 'key', ...u32Bytes(1), 'value', '7', '0', '0', '0', '0', '0', '0', '0']);
    assert.equal(upd.status, 0, upd.err);
    assert.deepEqual(lookup(env, counts.id, u32Bytes(1)), { key: 1, value: 7 });
    const missing = bpftool(env, ['map', 'lookup', 'id', String(counts.id), 'key', ...u32Bytes(2)]);
    assert.match(missing.out + missing.err, /Not found/);
    assert.match(bpftool(env, ['map', 'dump', 'id', String(counts.id)]).out, /"key": 1,\s+"value": 7/);

    // Ids that do not exist fail as on a kernel.
    const nope = bpftool(env, ['prog', 'show', 'id', '999999']);
    assert.notEqual(nope.status, 0);
    assert.match(nope.err + nope.out, /No such file or directory/);
  } finally {
    v?.child.stdin?.end();
    await v?.stop('SIGTERM');
    await t?.stop('SIGINT');
    stopServer(dir);
  }
});
