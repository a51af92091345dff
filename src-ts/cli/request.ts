// One request from the CLI to the server: connect to the runtime dir's socket, say hello as the
// CLI, send one frame and resolve with the payload of the first reply of the expected type.
import * as net from 'net';
import * as path from 'path';
import { FrameReader, Msg, PROTO_VERSION, Role, SIZEOF, encodeFrame } from '../server/protocol';

export function serverRequest(runtimeDir: string, type: number, payload: Buffer, replyType: number, timeoutMs: number): Promise<Buffer> {
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
      sock.write(encodeFrame(type, 2, payload));
    });
    sock.on('data', (d) => {
      reader.push(d, []);
      for (let f = reader.next(); f; f = reader.next()) {
        if (f.type === replyType) {
          clearTimeout(timer);
          sock.destroy();
          resolve(f.payload);
        }
      }
    });
  });
}
