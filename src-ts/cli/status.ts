// `bpftime status`: asks the server what it holds.
import * as net from 'net';
import * as path from 'path';
import { FRAME_HEADER_SIZE, FrameReader, Msg, PROTO_VERSION, Role, SIZEOF, encodeFrame } from '../server/protocol';

export function queryStatus(runtimeDir: string, timeoutMs = 5000): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path.join(runtimeDir, 'server.sock'));
    const reader = new FrameReader();
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('the server did not answer'));
    }, timeoutMs);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('connect', () => {
      const hello = Buffer.alloc(SIZEOF.hello + 1);
      hello.writeUInt32LE(Role.Cli, 0);
      hello.writeUInt32LE(PROTO_VERSION, 4);
      hello.writeUInt32LE(process.pid, 8);
      hello.write('bpftime', 16);
      sock.write(encodeFrame(Msg.Hello, 1, hello));
      sock.write(encodeFrame(Msg.Status, 2, Buffer.alloc(0)));
    });
    sock.on('data', (d) => {
      reader.push(d, []);
      for (let f = reader.next(); f; f = reader.next()) {
        if (f.type === Msg.StatusReply) {
          clearTimeout(timer);
          sock.destroy();
          resolve(JSON.parse(f.payload.toString('utf8')));
        }
      }
    });
  });
}
void FRAME_HEADER_SIZE;

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
