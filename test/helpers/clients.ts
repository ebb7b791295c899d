// Minimal raw clients used where curl cannot hold a connection open for the test: an HTTP CONNECT
// tunnel and a SOCKS5 CONNECT, each resolving with the connected socket.
import { connect, type Socket } from 'node:net';
import { runAsync } from './proc.js';

function readUntil(s: Socket, done: (buf: Buffer) => number): Promise<{ head: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const n = done(buf);
      if (n > 0) {
        s.removeListener('data', onData);
        s.removeListener('error', reject);
        s.removeListener('close', onClose);
        s.pause();
        resolve({ head: buf.subarray(0, n), rest: buf.subarray(n) });
      }
    };
    const onClose = (): void =>
      reject(
        new Error(`connection closed after ${buf.length} bytes: ${buf.toString('latin1').slice(0, 200)}`),
      );
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', onClose);
  });
}

export async function httpConnectTunnel(proxyPort: number, target: string, auth?: string): Promise<Socket> {
  const s = connect(proxyPort, '127.0.0.1');
  const authLine = auth ? `Proxy-Authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n` : '';
  s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${authLine}\r\n`);
  const { head } = await readUntil(s, (b) => {
    const i = b.indexOf('\r\n\r\n');
    return i < 0 ? 0 : i + 4;
  });
  const status = head.toString('latin1').split(' ')[1];
  if (status !== '200') {
    s.destroy();
    throw new Error(`CONNECT answered ${head.toString('latin1').split('\r\n')[0]}`);
  }
  s.resume();
  return s;
}

/** Sends data on a connected socket and resolves with the first `data.length` bytes echoed back. */
export function echoRoundTrip(s: Socket, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      if (got.length >= data.length) {
        s.removeListener('data', onData);
        s.removeListener('error', reject);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(data);
  });
}

/** The HTTP status curl gets for `url` through the proxy `proxyUrl` (credentials in the URL). */
export async function curlStatus(proxyUrl: string, url: string): Promise<string> {
  const r = await runAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-x', proxyUrl, url]);
  return r.stdout;
}
