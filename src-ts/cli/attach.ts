// `bpftime attach PID` and `bpftime detach PID`: getting the agent into a process that was not
// started with it, and out again.
//
// attach: the addon's ptrace injector (src-native/inject) makes a thread of PID call
// dlopen(libbpftime-agent.so) and then bpftime_agent_attach_follow() (bpftime_agent_attach_only()
// with --no-follow), which returns once the agent has registered with the server and installed
// the attachments that apply (as `bpftime start` does before main). Following, as under
// `bpftime start`: the agent adds itself to LD_PRELOAD in the process's environment, so images it
// execs load it again, and its forked children get an agent thread of their own. The agent finds the server as it always does, from the target's environment
// ($BPFTIME_RUNTIME_DIR, $XDG_RUNTIME_DIR/bpftime, /tmp/bpftime-UID); when that is not the
// runtime dir of this command, the injector first sets BPFTIME_RUNTIME_DIR in the target.
//
// detach: the server relays the request to the agent in PID, which removes every hook and ends
// its thread; the process runs on. The tools' links stay in the server.
import * as fs from 'fs';
import * as path from 'path';
import { constants } from 'os';
import { Msg, decodeDetachProcess, encodeDetachProcess } from '../server/protocol';
import { serverRequest } from './request';
import { libraries } from './run';
import { queryStatus } from './status';

/** What bpftime_runtime_dir() (src-native/core/ipc/client.c) computes inside pid, from its
 * environment at exec and its real uid; null when they cannot be read. */
export function targetRuntimeDir(pid: number): string | null {
  try {
    const env = new Map<string, string>();
    for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = kv.indexOf('=');
      if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
    }
    if (env.get('BPFTIME_RUNTIME_DIR')) return env.get('BPFTIME_RUNTIME_DIR')!;
    if (env.get('XDG_RUNTIME_DIR')) return path.join(env.get('XDG_RUNTIME_DIR')!, 'bpftime');
    const uid = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1];
    return uid === undefined ? null : `/tmp/bpftime-${uid}`;
  } catch {
    return null;
  }
}

function parsePid(s: string): number | null {
  return /^[1-9]\d*$/.test(s) ? Number(s) : null;
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Attachments the server runs in pid's agent, by state. */
function agentStates(status: Record<string, any>, pid: number): string[] {
  return status.attachments.flatMap((a: any) => a.agents.filter((g: any) => g.pid === pid).map((g: any) => g.state));
}

export async function attachCommand(pidArg: string, runtimeDir: string, opts: { follow?: boolean } = {}): Promise<number> {
  const follow = opts.follow ?? true;
  const pid = parsePid(pidArg);
  if (pid === null) {
    console.error(`bpftime attach: '${pidArg}' is not a process id`);
    return 2;
  }
  if (!fs.existsSync(`/proc/${pid}`)) {
    console.error(`bpftime attach: no process ${pid}`);
    return 1;
  }
  const lib = libraries.agent;
  if (!fs.existsSync(lib)) {
    console.error(`bpftime attach: ${lib} is missing - build it with \`npm run build\``);
    return 1;
  }
  let status: Record<string, any> | null = null;
  try {
    status = await queryStatus(runtimeDir, 2000);
  } catch {
    /* no server yet: the agent waits for one (it reconnects on its own) */
  }
  if (status?.clients.some((c: any) => c.role === 'agent' && c.pid === pid)) {
    console.log(`bpftime attach: ${pid} (${comm(pid)}) already runs the agent, connected to the server in ${runtimeDir}`);
    return 0;
  }
  // The agent's constructor leaves the start to the entry called after the dlopen, which edits
  // the environment first (agent.c).
  const env: string[] = ['BPFTIME_AGENT_ATTACHING=1'];
  const theirs = targetRuntimeDir(pid);
  if (theirs !== path.resolve(runtimeDir)) env.push(`BPFTIME_RUNTIME_DIR=${path.resolve(runtimeDir)}`);

  const { addon } = require('../native/addon') as typeof import('../native/addon');
  const r = addon.inject(pid, lib, { env, entry: follow ? 'bpftime_agent_attach_follow' : 'bpftime_agent_attach_only' });
  if (!r.ok) {
    console.error(`bpftime attach: ${r.error}`);
    return 1;
  }
  if (!status) {
    console.log(`bpftime attach: agent loaded into ${pid} (${comm(pid)}); no server runs in ${runtimeDir} yet, ` +
      'the agent connects when one starts (`bpftime load TOOL` or `bpftime serve`)');
    return 0;
  }
  // bpftime_agent_start() returned after the server's HELLO_REPLY: the agent is registered and
  // the attachments that apply to it are installed (or answered) by now.
  let states: string[] = [];
  let connected = false;
  try {
    const s = await queryStatus(runtimeDir, 2000);
    connected = s.clients.some((c: any) => c.role === 'agent' && c.pid === pid);
    states = agentStates(s, pid);
  } catch {
    /* reported below */
  }
  if (!connected) {
    console.error(`bpftime attach: the agent was loaded into ${pid} but has not registered with the server in ` +
      `${runtimeDir} (see ${path.join(runtimeDir, 'server.log')})` +
      (r.wasLoaded ? '; it was loaded before and may be connected to the server of another runtime directory' : ''));
    return 1;
  }
  const n = (st: string) => states.filter((x) => x === st).length;
  console.log(`bpftime attach: agent loaded into ${pid} (${comm(pid)})${r.wasLoaded ? ' (it was loaded before)' : ''}, ` +
    `connected to the server in ${runtimeDir}; attachments: ${n('attached')} installed` +
    (n('waiting') ? `, ${n('waiting')} waiting for their binary` : '') + (n('failed') ? `, ${n('failed')} failed (see bpftime status)` : ''));
  return n('failed') ? 1 : 0;
}

export async function detachCommand(pidArg: string, runtimeDir: string): Promise<number> {
  const pid = parsePid(pidArg);
  if (pid === null) {
    console.error(`bpftime detach: '${pidArg}' is not a process id`);
    return 2;
  }
  let reply: { pid: number; status: number };
  try {
    reply = decodeDetachProcess(await serverRequest(runtimeDir, Msg.DetachProcess, encodeDetachProcess(pid), Msg.DetachProcessReply, 10000));
  } catch (e) {
    console.error(`bpftime detach: no server is running in ${runtimeDir} (${(e as Error).message})`);
    return 1;
  }
  if (reply.status === -constants.errno.ESRCH) {
    console.error(`bpftime detach: no agent of process ${pid} is connected to the server in ${runtimeDir}`);
    return 1;
  }
  if (reply.status < 0) {
    console.error(`bpftime detach: the agent of ${pid} did not finish removing its hooks in time`);
    return 1;
  }
  console.log(`bpftime detach: the agent of ${pid} (${comm(pid)}) removed its hooks and stopped; the process runs on untraced ` +
    '(the tools\' links stay in the server)');
  return 0;
}
