// `bpftime detach PID`: the CLI asks; the server tells every agent of that process to quit
// (AGENT_QUIT); each removes all its hooks, then closes its connection and ends its thread. The
// CLI is answered once they are all gone (the close comes after the hooks are off), or after a
// bound. The tools' links are not touched: they stay, the process just no longer runs them, and
// `bpftime status` says so (the process is listed as detached).
import * as fs from 'fs';
import { Client } from './client';
import { Msg, Role, decodeDetachProcess, encodeDetachProcess } from './protocol';
import { constants } from 'os';
import { log } from './log';

/** How long the CLI waits for the agents to remove their hooks and leave. */
const QUIT_TIMEOUT_MS = 5000;

interface Waiting {
  cli: Client;
  seq: number;
  agents: Set<Client>;
  quit: number;
  timer: NodeJS.Timeout;
}

export interface DetachedProcess {
  pid: number;
  comm: string;
  exe: string;
  at_ms: number;
}

export class ProcessDetach {
  private readonly waiting = new Set<Waiting>();
  private readonly detached = new Map<number, DetachedProcess>();

  /** DETACH_PROCESS from the CLI: agents is every connected client. */
  request(cli: Client, seq: number, payload: Buffer, clients: Iterable<Client>): void {
    const { pid } = decodeDetachProcess(payload);
    const agents = new Set([...clients].filter((c) => c.role === Role.Agent && c.pid === pid && !c.closed));
    if (agents.size === 0) {
      cli.send(Msg.DetachProcessReply, seq, encodeDetachProcess(pid, -constants.errno.ESRCH));
      return;
    }
    const w: Waiting = {
      cli,
      seq,
      agents,
      quit: 0,
      timer: setTimeout(() => this.answer(w, pid, -constants.errno.ETIMEDOUT), QUIT_TIMEOUT_MS),
    };
    this.waiting.add(w);
    for (const a of agents) {
      this.detached.set(pid, { pid, comm: a.comm, exe: a.exe, at_ms: Date.now() });
      if (!a.send(Msg.AgentQuit, 0, Buffer.alloc(0))) this.agentGone(a);
    }
    log(`bpftime detach ${pid}: told ${agents.size} agent(s) to remove their hooks and quit`);
  }

  /** An agent disconnected (called for every client that goes). */
  agentGone(c: Client): void {
    for (const w of [...this.waiting]) {
      if (w.agents.delete(c)) w.quit++;
      if (w.agents.size === 0) this.answer(w, c.pid, w.quit);
    }
  }

  /** Processes detached by request that still run and whose agent has not come back since
   * (`bpftime attach` again). */
  list(clients: Iterable<Client>): DetachedProcess[] {
    const agents = [...clients].filter((c) => c.role === Role.Agent);
    for (const [pid, d] of [...this.detached]) {
      const back = agents.some((c) => c.pid === pid && c.connectedAt > d.at_ms);
      if (back || !fs.existsSync(`/proc/${pid}`)) this.detached.delete(pid);
    }
    return [...this.detached.values()];
  }

  private answer(w: Waiting, pid: number, status: number): void {
    if (!this.waiting.delete(w)) return;
    clearTimeout(w.timer);
    w.cli.send(Msg.DetachProcessReply, w.seq, encodeDetachProcess(pid, status));
  }
}
