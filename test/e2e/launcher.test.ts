// bin/bpftime, the sh launcher: the plain `start`/`load` forms exec the command with the agent or
// the shim and nothing else added to its environment; everything else goes to the Node CLI; the
// Node CLI's own `start`/`load` run through the launcher, so both give the same environment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { agentLib, cli, root, shimLib, tmpRuntimeDir, withServer } from './harness';

const launcher = path.join(root, 'bin', 'bpftime');
const earlyLib = path.join(root, 'build', 'lib', 'libbpftime-early.so');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 30000 });
}

/** NAME=VALUE lines of an environment dump (`env`, or /proc/PID/environ with NULs). */
function parseEnv(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of out.split(/[\n\0]/)) {
    const eq = l.indexOf('=');
    if (eq > 0) m.set(l.slice(0, eq), l.slice(eq + 1));
  }
  return m;
}

// The environment the traced process was started with, as the kernel holds it: the agent edits
// its own environ array (--no-follow takes entries out), not the original block.
const dumpOwnEnv = ['sh', '-c', 'cat /proc/$$/environ'];

// A caller environment with LD_PRELOAD entries of all kinds: ' ' and ':' separators, empty
// entries, and the library itself already in the list (it must come first, once).
function callerEnv(lib: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['BPFTIME_NO_FOLLOW', 'LD_AUDIT', 'BPFTIME_SERVER_JS', 'BPFTIME_NODE']) delete env[k];
  return { ...env, BPFTIME_TEST_MARK: 'kept as is', LD_PRELOAD: `/nonexistent/a.so ${lib}::/nonexistent/b.so`, ...extra };
}

test('load: --runtime-dir D and --runtime-dir=D, LD_PRELOAD order and dedup, nothing else changed', () => {
  const dir = tmpRuntimeDir();
  try {
    const env = callerEnv(shimLib, { BPFTIME_RUNTIME_DIR: '/nonexistent/overridden' });
    for (const args of [['--runtime-dir', dir, 'load', 'env'], [`--runtime-dir=${dir}`, 'load', '--', 'env']]) {
      const r = run(launcher, args, env);
      assert.equal(r.status, 0, r.stderr);
      const got = parseEnv(r.stdout);
      assert.equal(got.get('LD_PRELOAD'), `${shimLib}:/nonexistent/a.so:/nonexistent/b.so`);
      assert.equal(got.get('BPFTIME_RUNTIME_DIR'), dir);
      assert.equal(got.get('BPFTIME_SERVER_JS'), path.join(root, 'dist', 'src-ts', 'server', 'main.js'));
      assert.ok(got.get('BPFTIME_NODE')?.endsWith('/node'), `BPFTIME_NODE=${got.get('BPFTIME_NODE')}`);
      assert.equal(got.has('LD_AUDIT'), false, 'load adds no LD_AUDIT');
      assert.equal(got.has('BPFTIME_NO_FOLLOW'), false);
      // Everything else is the caller's, unchanged (PWD: the launcher is a shell, which keeps it
      // current).
      const added = new Set(['LD_PRELOAD', 'BPFTIME_RUNTIME_DIR', 'BPFTIME_SERVER_JS', 'BPFTIME_NODE', 'PWD']);
      for (const [k, v] of Object.entries(env)) if (!added.has(k)) assert.equal(got.get(k), v, k);
      for (const k of got.keys()) assert.ok(added.has(k) || k in env, `${k} was added`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the Node CLI runs start/load through the launcher: the same environment', () => {
  const dir = tmpRuntimeDir();
  try {
    // Both pick the same node when it is PATH's first.
    const env = callerEnv(shimLib, { PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` });
    const viaLauncher = run(launcher, ['--runtime-dir', dir, 'load', 'env'], env);
    const viaNode = run(process.execPath, [cli, '--runtime-dir', dir, 'load', 'env'], env);
    assert.equal(viaLauncher.status, 0, viaLauncher.stderr);
    assert.equal(viaNode.status, 0, viaNode.stderr);
    assert.deepEqual(parseEnv(viaNode.stdout), parseEnv(viaLauncher.stdout));
    // A BPFTIME_NODE the caller set is kept by both.
    const mine = { ...env, BPFTIME_NODE: '/opt/my/node' };
    assert.equal(parseEnv(run(launcher, ['load', 'env'], mine).stdout).get('BPFTIME_NODE'), '/opt/my/node');
    assert.equal(parseEnv(run(process.execPath, [cli, 'load', 'env'], mine).stdout).get('BPFTIME_NODE'), '/opt/my/node');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('start: the agent first in LD_PRELOAD, its early stage in LD_AUDIT, --no-follow sets the flag', async () => {
  await withServer(async (_env, dir) => {
    const env = callerEnv(agentLib, { BPFTIME_RUNTIME_DIR: '/nonexistent/overridden', LD_AUDIT: `${earlyLib}:/nonexistent/audit.so` });
    for (const noFollow of [false, true]) {
      const args = ['--runtime-dir', dir, 'start', ...(noFollow ? ['--no-follow'] : []), '--', ...dumpOwnEnv];
      for (const [cmd, argv] of [[launcher, args], [process.execPath, [cli, ...args]]] as Array<[string, string[]]>) {
        const r = run(cmd, argv, env);
        assert.equal(r.status, 0, r.stderr);
        const got = parseEnv(r.stdout);
        assert.equal(got.get('LD_PRELOAD'), `${agentLib}:/nonexistent/a.so:/nonexistent/b.so`);
        if (fs.existsSync(earlyLib)) assert.equal(got.get('LD_AUDIT'), `${earlyLib}:/nonexistent/audit.so`);
        assert.equal(got.get('BPFTIME_RUNTIME_DIR'), dir);
        assert.equal(got.get('BPFTIME_NO_FOLLOW'), noFollow ? '1' : undefined);
        assert.equal(got.get('BPFTIME_TEST_MARK'), 'kept as is');
      }
    }
  });
});

test('a command starting with "-": a command after --, an option (to the Node CLI) without', () => {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-launcher-'));
  try {
    fs.writeFileSync(path.join(bin, '-dash'), '#!/bin/sh\necho "dash ran with $*"\n', { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    const r = run(launcher, ['load', '--', '-dash', 'x', '--y'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'dash ran with x --y\n');
    const viaNode = run(process.execPath, [cli, 'load', '--', '-dash', 'x'], env);
    assert.equal(viaNode.stdout, 'dash ran with x\n', viaNode.stderr);
    const opt = run(launcher, ['load', '-dash'], env);
    assert.notEqual(opt.status, 0);
    assert.match(opt.stderr, /unknown option '-dash'/);
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});

test('help, other commands and errors go to the Node CLI', () => {
  for (const args of [['--help'], ['start', '--help'], ['--runtime-dir', '/tmp', 'load', '--help'], ['help', 'start']]) {
    const r = run(launcher, args, process.env);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: bpftime/, args.join(' '));
  }
  const none = run(launcher, ['start'], process.env);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /missing required argument 'cmd'/);
  const bad = run(launcher, ['frobnicate'], process.env);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
  const dir = tmpRuntimeDir();
  try {
    const status = run(launcher, ['--runtime-dir', dir, 'status'], process.env);
    assert.equal(status.status, 1);
    assert.ok(status.stderr.includes(`no server is running in ${dir} `), status.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('exit status and a fatal signal pass on as they are (exec; the Node CLI reports 128+N)', () => {
  const env = { ...process.env, BPFTIME_RUNTIME_DIR: '/nonexistent/not-used' };
  // The command is the process we started: exec'd in place, no Node or shell left as parent.
  const self = run(launcher, ['load', 'sh', '-c', 'echo $$'], env);
  assert.equal(self.stdout, `${self.pid}\n`);
  assert.equal(run(launcher, ['load', 'sh', '-c', 'exit 7'], env).status, 7);
  const killed = run(launcher, ['load', 'sh', '-c', 'kill -TERM $$'], env);
  assert.equal(killed.signal, 'SIGTERM');
  assert.equal(run(process.execPath, [cli, 'load', 'sh', '-c', 'exit 7'], env).status, 7);
  assert.equal(run(process.execPath, [cli, 'load', 'sh', '-c', 'kill -TERM $$'], env).status, 128 + 15);
});

test('clear errors: a missing command, a missing library', () => {
  const missingCmd = run(launcher, ['load', 'no-such-command-bpftime'], process.env);
  assert.equal(missingCmd.status, 127);
  assert.match(missingCmd.stderr, /bpftime: cannot run no-such-command-bpftime: not found in PATH/);
  const missingFile = run(launcher, ['load', './no/such/file'], process.env);
  assert.equal(missingFile.status, 127);
  assert.match(missingFile.stderr, /cannot run \.\/no\/such\/file: no such file/);
  const notExec = run(launcher, ['load', '/etc/passwd'], process.env);
  assert.equal(notExec.status, 126);
  // A checkout without build/lib (the launcher copied alone): the message says what to do.
  const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-bare-'));
  try {
    fs.mkdirSync(path.join(bare, 'bin'));
    fs.copyFileSync(launcher, path.join(bare, 'bin', 'bpftime'));
    for (const verb of ['start', 'load']) {
      const r = run('/bin/sh', [path.join(bare, 'bin', 'bpftime'), verb, 'true'], process.env);
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`bpftime: ${bare}/build/lib/libbpftime-[a-z-]+\\.so is missing - build it with \`npm install\` in ${bare}\\n`));
    }
  } finally {
    fs.rmSync(bare, { recursive: true, force: true });
  }
});
