// `bpftime status`: asks the server what it holds.
import { Msg } from '../server/protocol';
import { serverRequest } from './request';

export async function queryStatus(runtimeDir: string, timeoutMs = 5000): Promise<Record<string, any>> {
  const reply = await serverRequest(runtimeDir, Msg.Status, Buffer.alloc(0), Msg.StatusReply, timeoutMs);
  return JSON.parse(reply.toString('utf8'));
}

export async function showStatus(runtimeDir: string, json: boolean): Promise<number> {
  let s: Record<string, any>;
  try {
    s = await queryStatus(runtimeDir);
  } catch (e) {
    console.error(`bpftime status: no server is running in ${runtimeDir} (${(e as Error).message}).`);
    console.error('It starts on its own when a tool runs under `bpftime load`, or run `bpftime serve`.');
    return 1;
  }
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return 0;
  }
  console.log(`server pid ${s.server.pid} in ${s.server.runtime_dir}, up ${Math.round(s.server.uptime_ms / 1000)}s`);
  console.log(`clients: ${s.clients.length}`);
  for (const c of s.clients) console.log(`  ${c.role.padEnd(5)} ${c.comm}[${c.pid}] ${c.exe} (${c.objects} objects)`);
  for (const [kind, list] of Object.entries(s.objects as Record<string, any[]>)) {
    console.log(`${kind}: ${list.length}`);
    for (const o of list) console.log('  ' + Object.entries(o).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(' '));
  }
  console.log(`attachments: ${s.attachments.length}`);
  for (const a of s.attachments) {
    console.log(`  #${a.id} prog ${a.prog_id} ${a.probe} ${a.path}+${a.offset}${a.pid >= 0 ? ` pid ${a.pid}` : ''}`);
    for (const g of a.agents) console.log(`    agent ${g.pid}: ${g.state} ${g.message}`);
    for (const d of s.detached ?? []) {
      if (a.pid < 0 || a.pid === d.pid) console.log(`    agent ${d.pid}: detached (bpftime detach): not run there`);
    }
  }
  const detached: any[] = s.detached ?? [];
  if (detached.length) {
    console.log(`detached: ${detached.length} (their agents removed every hook and stopped; the processes run untraced)`);
    for (const d of detached) console.log(`  ${d.comm}[${d.pid}] ${d.exe}`);
  }
  return 0;
}
