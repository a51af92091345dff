// bcc's database tools on a real PostgreSQL server (Debian's, built with its USDT probes and their
// semaphores): dbslower-bpfcc prints the slow query, dbstat-bpfcc the latency histogram, under the
// shim as on the kernel. postgres refuses to run as root, so it runs as nobody: under the shim its
// agents reach root's server through `bpftime serve --agents-from-any-uid`.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, shimLib, tmpRuntimeDir } from './harness';
import { Mode, targetArgv } from './run-mode';
import { SIGINT_DEFAULT, bccMissing, kernelSkip, sbin, waitPolling } from './bcc-scenario';

const pgBin = (() => {
  try {
    const v = fs.readdirSync('/usr/lib/postgresql').sort().pop();
    return v ? `/usr/lib/postgresql/${v}/bin` : '';
  } catch {
    return '';
  }
})();

function hasUsdt(bin: string): boolean {
  const r = spawnSync('readelf', ['-n', bin], { encoding: 'utf8' });
  return /stapsdt/.test(r.stdout ?? '') && /query__start/.test(r.stdout ?? '');
}

const skip = !isRoot ? 'not root (postgres runs as nobody through runuser)'
  : bccMissing() || (!pgBin || !fs.existsSync(`${pgBin}/postgres`) ? 'no PostgreSQL server (Debian package postgresql)'
    : !haveCommand('runuser') ? 'no runuser' : !hasUsdt(`${pgBin}/postgres`) ? 'postgres built without USDT probes' : false);

const NOBODY = 65534;
const SLOW = "select pg_sleep(0.2), 'slow query';";
const MEDIUM = "select pg_sleep(0.06), 'medium query';";
const FAST = "select 'fast query';";

/** A database cluster owned by nobody (initdb once for both runs). */
function makeCluster(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-pg-'));
  fs.chownSync(dir, NOBODY, NOBODY);
  const r = spawnSync('runuser', ['-u', 'nobody', '--', `${pgBin}/initdb`, '-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'postgres'],
    { encoding: 'utf8', cwd: dir });
  if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr}`);
  return dir;
}

interface Run { slower: string; stat: string; backend: number }

async function run(mode: Mode, cluster: string): Promise<Run> {
  const procs: Proc[] = [];
  const dir = tmpRuntimeDir();
  const base: NodeJS.ProcessEnv = mode === 'shim' ? bpftimeEnv(dir) : { ...process.env };
  delete base.LD_PRELOAD;
  try {
    if (mode === 'shim') {
      const server = new Proc(process.execPath, [cli, 'serve', '--agents-from-any-uid'], base);
      procs.push(server);
      await server.waitFor(/serving on/);
      // Another user's tool may not use this server: EPERM, as an unprivileged user's bpf() on a kernel.
      const other = spawnSync('runuser', ['-u', 'nobody', '--', 'env', `LD_PRELOAD=${shimLib}`, 'bpftool', 'map', 'list'],
        { env: base, encoding: 'utf8', timeout: 20000 });
      assert.match(other.stderr, /Operation not permitted/, other.stderr);
      await server.waitFor(/refused pid \d+ \(uid 65534\): a process of another user may only connect as an agent/);
    }
    const pgArgv = targetArgv(mode, ['runuser', '-u', 'nobody', '--', `${pgBin}/postgres`, '-D', path.join(cluster, 'data'),
      '-k', cluster, '-c', 'listen_addresses=', '-c', 'autovacuum=off']);
    const pg = new Proc(pgArgv[0], pgArgv.slice(1), base);
    procs.push(pg);
    await pg.waitFor(/database system is ready to accept connections/, 30000);
    if (mode === 'shim') assert.doesNotMatch(pg.out, /may not reach the server/);
    // A session opened first: its backend is one of the processes the tools find (pidof postgres).
    const psql = new Proc('runuser', ['-u', 'nobody', '--', `${pgBin}/psql`, '-h', cluster, '-U', 'postgres', '-d', 'postgres', '-At'], base, { stdin: true });
    procs.push(psql);
    psql.write('select pg_backend_pid();\n');
    const backend = Number((await psql.waitFor(/^(\d+)$/m, 15000))[1]);
    const toolEnv = { ...base, PYTHONUNBUFFERED: '1', ...(mode === 'shim' ? { LD_PRELOAD: shimLib } : {}) };
    const slower = new Proc('/usr/bin/python3', ['-c', SIGINT_DEFAULT, sbin('dbslower-bpfcc'), 'postgres', '-m', '100'], toolEnv);
    const stat = new Proc('/usr/bin/python3', ['-c', SIGINT_DEFAULT, sbin('dbstat-bpfcc'), 'postgres', '-m', '30'], toolEnv);
    procs.push(slower, stat);
    await slower.waitFor(/TIME\(s\)\s+PID\s+MS\s+QUERY/, 90000);
    await stat.waitFor(/Tracing database queries/, 90000);
    await waitPolling(slower);
    for (const q of [FAST, SLOW, MEDIUM, MEDIUM, FAST]) {
      const from = psql.out.length;
      psql.write(q + '\n');
      await psql.waitFor(q.includes('fast') ? /fast query/ : /query$/m, 15000, from);
    }
    await slower.waitFor(/slow query/, 15000);
    await new Promise((r) => setTimeout(r, 300));
    await slower.stop('SIGINT');
    await stat.stop('SIGINT');
    return { slower: slower.out, stat: stat.out, backend };
  } finally {
    await stopPostmaster(cluster);
    for (const p of procs.reverse()) await p.stop('SIGINT', 8000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A fast shutdown of the cluster's postmaster (SIGINT), waited for: its pid file goes last. */
async function stopPostmaster(cluster: string): Promise<void> {
  const pidFile = path.join(cluster, 'data', 'postmaster.pid');
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  const signal = (sig: NodeJS.Signals) => { try { process.kill(pid, sig); } catch { /* gone */ } };
  signal('SIGINT');
  for (const deadline = Date.now() + 15000; fs.existsSync(pidFile) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
  if (fs.existsSync(pidFile)) {
    signal('SIGKILL');
    fs.rmSync(pidFile, { force: true });
  }
}

/** dbslower's event lines: pid, ms, query. */
function slowLines(out: string): { pid: number; ms: number; query: string }[] {
  return [...out.matchAll(/^\d+\.\d+\s+(\d+)\s+([\d.]+)\s+(.*)$/gm)].map((m) => ({ pid: Number(m[1]), ms: Number(m[2]), query: m[3] }));
}

/** dbstat's histogram rows with a count: "lo -> hi : count". */
function histogram(out: string): string[] {
  return [...out.matchAll(/^\s*(\d+)\s*->\s*(\d+)\s*:\s*(\d+)/gm)].filter((m) => Number(m[3]) > 0).map((m) => `${m[1]}-${m[2]}: ${m[3]}`);
}

function check(r: Run, mode: Mode): void {
  const lines = slowLines(r.slower);
  assert.equal(lines.length, 1, `${mode}: dbslower printed:\n${r.slower}`);
  assert.equal(lines[0].query, `b"${SLOW}"`);
  assert.equal(lines[0].pid, r.backend);
  assert.ok(lines[0].ms >= 200 && lines[0].ms < 5000, `${mode}: ${lines[0].ms} ms`);
  // Two queries of 60 ms and one of 200 ms over the 30 ms threshold.
  assert.deepEqual(histogram(r.stat), ['32-63: 2', '128-255: 1'], `${mode}: dbstat printed:\n${r.stat}`);
}

test('dbslower-bpfcc and dbstat-bpfcc on PostgreSQL (USDT query__start/query__done, semaphores, a server running as nobody)', { skip, timeout: 400000 }, async (t) => {
  const cluster = makeCluster();
  try {
    const shim = await run('shim', cluster);
    check(shim, 'shim');
    if (kernelSkip) {
      t.diagnostic(`kernel reference skipped: ${kernelSkip}`);
      return;
    }
    const kernel = await run('kernel', cluster);
    check(kernel, 'kernel');
    assert.deepEqual(histogram(shim.stat), histogram(kernel.stat));
  } finally {
    fs.rmSync(cluster, { recursive: true, force: true });
  }
});
