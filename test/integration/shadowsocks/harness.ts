// Shared pieces of the Shadowsocks integration suites: Ferry gateways (server and client roles),
// real peers (ss-local, ss-server, v2ray), a SOCKS5 UDP client, curl, and a UDP echo origin.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientKeys, methodInfo } from '../../../src/crypto/ss/methods.js';
import { ClientStreamCodec } from '../../../src/crypto/ss/tcp-client.js';
import { startGateway, type Gateway } from '../../../src/server/gateway.js';
import { start, runAsync, type Proc } from '../../helpers/proc.js';
import { waitFor, waitForPort } from '../../helpers/wait.js';
import { memoryLogger } from '../../helpers/memory-log.js';

export const AEAD_METHODS = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-ietf-poly1305'] as const;
export const METHODS_2022 = [
  '2022-blake3-aes-128-gcm',
  '2022-blake3-aes-256-gcm',
  '2022-blake3-chacha20-poly1305',
] as const;

export { memoryLogger };

export interface ServerOptions {
  method: string;
  password?: string;
  users?: { name: string; ss_password: string; password?: string }[];
  handshake?: number;
  /** Listen address (default 127.0.0.1:0). */
  listen?: string;
}

/** A Ferry gateway with one Shadowsocks inbound on 127.0.0.1 (loopback destinations allowed). */
export async function startFerryServer(
  o: ServerOptions,
  log = memoryLogger(),
): Promise<{ gw: Gateway; port: number; lines: string[] }> {
  const gw = await startGateway(
    {
      users: (o.users ?? []).map((u) => ({
        name: u.name,
        password: u.password ?? 'unused-login-pw',
        ss_password: u.ss_password,
      })),
      inbounds: [
        {
          name: 'ss',
          type: 'shadowsocks',
          listen: o.listen ?? '127.0.0.1:0',
          shadowsocks: { method: o.method, ...(o.password ? { password: o.password } : {}) },
        },
      ],
      router: { allow_destinations: ['127.0.0.0/8', '::1/128'] },
      timeouts: { handshake: o.handshake ?? 10 },
      log: { access_log: 'audit' },
    },
    { log: log.log },
  );
  return { gw, port: gw.address('ss').port, lines: log.lines };
}

/** A Ferry gateway in the client role: a mixed (HTTP+SOCKS5) inbound whose default outbound is Shadowsocks. */
export async function startFerryClient(
  server: string,
  method: string,
  password: string,
): Promise<{ gw: Gateway; port: number }> {
  const gw = await startGateway(
    {
      inbounds: [{ name: 'local', type: 'mixed', listen: '127.0.0.1:0', auth: false }],
      outbounds: [{ name: 'ss', type: 'shadowsocks', server, method, password }],
      router: { default: 'ss' },
    },
    { log: memoryLogger().log },
  );
  return { gw, port: gw.address('local').port };
}

/** A port free for both TCP and UDP on 127.0.0.1, for peers that cannot listen on port 0. */
export async function freePort(): Promise<number> {
  for (;;) {
    // Below the ephemeral range (32768+), where a busy host has outgoing connections bound.
    const port = 10000 + Math.floor(Math.random() * 22000);
    const free = await new Promise<boolean>((resolve) => {
      const t = createServer();
      t.once('error', () => resolve(false));
      t.listen(port, '127.0.0.1', () => {
        const u = createSocket('udp4');
        u.once('error', () => t.close(() => resolve(false)));
        u.bind(port, '127.0.0.1', () => u.close(() => t.close(() => resolve(true))));
      });
    });
    if (free) return port;
  }
}

export async function startSsLocal(
  serverPort: number,
  method: string,
  password: string,
  serverHost = '127.0.0.1',
): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const proc = start('ss-local', [
    '-s',
    serverHost,
    '-p',
    String(serverPort),
    '-b',
    '127.0.0.1',
    '-l',
    String(port),
    '-k',
    password,
    '-m',
    method,
    '-u',
  ]);
  await waitForPortOrKill(port, proc);
  return { proc, port };
}

/** Waits for a just-started peer to listen; when it does not, kills it and rethrows. */
async function waitForPortOrKill(port: number, proc: Proc): Promise<void> {
  try {
    await waitForPort(port);
  } catch (e) {
    await proc.kill();
    throw e;
  }
}

export async function startSsServer(method: string, password: string): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const proc = start('ss-server', [
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '-k',
    password,
    '-m',
    method,
    '-u',
  ]);
  await waitForPortOrKill(port, proc);
  return { proc, port };
}

/** v2ray 4.34 with one Shadowsocks inbound (role server) or a SOCKS inbound + Shadowsocks outbound (role client). */
export async function startV2ray(
  role: 'server' | 'client',
  method: string,
  password: string,
  ssPort?: number,
): Promise<{ proc: Proc; port: number; cleanup(): void }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-v2ray-'));
  const v2method = method === 'chacha20-ietf-poly1305' ? 'chacha20-poly1305' : method;
  const cfg =
    role === 'server'
      ? {
          log: { loglevel: 'warning' },
          inbounds: [
            {
              listen: '127.0.0.1',
              port,
              protocol: 'shadowsocks',
              settings: { method: v2method, password, network: 'tcp,udp' },
            },
          ],
          outbounds: [{ protocol: 'freedom' }],
        }
      : {
          log: { loglevel: 'warning' },
          inbounds: [
            {
              listen: '127.0.0.1',
              port,
              protocol: 'socks',
              settings: { auth: 'noauth', udp: true, ip: '127.0.0.1' },
            },
          ],
          outbounds: [
            {
              protocol: 'shadowsocks',
              settings: { servers: [{ address: '127.0.0.1', port: ssPort, method: v2method, password }] },
            },
          ],
        };
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(cfg));
  const proc = start('v2ray', ['-config', file]);
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    await waitForPortOrKill(port, proc);
  } catch (e) {
    cleanup();
    throw e;
  }
  return { proc, port, cleanup };
}

/** curl through a SOCKS5 proxy (names resolved by the proxy); resolves with the body. */
export async function curlSocks(socksPort: number, url: string): Promise<string> {
  const r = await runAsync('curl', [
    '-sS',
    '--max-time',
    '10',
    '--socks5-hostname',
    `127.0.0.1:${socksPort}`,
    url,
  ]);
  if (r.code !== 0) throw new Error(`curl via socks5 :${socksPort} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** POSTs `bytes` bytes through a SOCKS5 proxy to the echo origin; resolves with the length it saw. */
export async function curlUpload(socksPort: number, url: string, bytes: number): Promise<number> {
  const r = await runAsync(
    'curl',
    [
      '-sS',
      '--max-time',
      '20',
      '--socks5-hostname',
      `127.0.0.1:${socksPort}`,
      '--data-binary',
      '@-',
      '-H',
      'Content-Type: application/octet-stream',
      url,
    ],
    { input: 'u'.repeat(bytes) },
  );
  if (r.code !== 0) throw new Error(`curl upload via socks5 :${socksPort} failed (${r.code}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { bodyLength: number }).bodyLength;
}

/** A UDP echo server on 127.0.0.1 that answers "echo:" + payload. */
export async function startUdpEcho(): Promise<{ port: number; close(): void }> {
  const s = createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return { port: s.address().port, close: () => s.close() };
}

function readSome(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= n) {
        s.removeListener('data', onData);
        s.removeListener('error', reject);
        resolve(buf);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

/**
 * SOCKS5 UDP ASSOCIATE (RFC 1928 §7) round trip: sends `payload` to 127.0.0.1:echoPort through the
 * proxy's relay, retrying until the echo comes back (UDP may be dropped), and returns the reply.
 */
export async function socksUdpEcho(socksPort: number, echoPort: number, payload: string): Promise<string> {
  const ctl = connect(socksPort, '127.0.0.1');
  ctl.on('error', () => undefined);
  let udp: UdpSocket | null = null;
  try {
    await new Promise<void>((resolve, reject) => {
      ctl.once('connect', resolve);
      ctl.once('error', reject);
    });
    ctl.write(Buffer.from([5, 1, 0]));
    const g = await readSome(ctl, 2);
    if (g[1] !== 0) throw new Error('proxy wants authentication');
    ctl.write(Buffer.from([5, 3, 0, 1, 0, 0, 0, 0, 0, 0]));
    const r = await readSome(ctl, 10);
    if (r[1] !== 0) throw new Error(`UDP ASSOCIATE refused: ${r[1]}`);
    if (r[3] !== 1) throw new Error(`relay address type ${r[3]} (expected IPv4)`);
    const relayHost = `${r[4]}.${r[5]}.${r[6]}.${r[7]}`;
    const relayPort = r.readUInt16BE(8);
    const u = createSocket('udp4');
    udp = u;
    await new Promise<void>((resolve) => u.bind(0, '127.0.0.1', resolve));
    let reply: string | null = null;
    u.on('message', (m) => {
      // RSV(2) FRAG(1) ATYP(1)=1 ADDR(4) PORT(2) DATA
      if (m[3] === 1) reply = m.subarray(10).toString();
    });
    const header = Buffer.from([0, 0, 0, 1, 127, 0, 0, 1, echoPort >> 8, echoPort & 0xff]);
    const dgram = Buffer.concat([header, Buffer.from(payload)]);
    return await waitFor(
      `UDP echo through SOCKS5 :${socksPort}`,
      () => {
        if (reply !== null) return reply;
        u.send(dgram, relayPort, relayHost === '0.0.0.0' ? '127.0.0.1' : relayHost);
        return null;
      },
      { timeoutMs: 8000, intervalMs: 200 },
    );
  } finally {
    udp?.close();
    ctl.destroy();
  }
}

/**
 * A request's first flight (salt, target address, request) as a Ferry client would send it, for
 * tests that write raw bytes at a server: replays, flipped bits, probes. `connection` is the
 * request's Connection header value, if any.
 */
export function firstFlight(
  method: string,
  password: string,
  port: number,
  path: string,
  connection?: 'close',
): Buffer {
  const m = methodInfo(method);
  const c = new ClientStreamCodec({
    method: m,
    keys: clientKeys(m, password),
    dest: { host: '127.0.0.1', port, kind: 'ipv4' },
    sink: () => undefined,
  });
  const conn = connection ? `Connection: ${connection}\r\n` : '';
  return c.encode(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n${conn}\r\n`));
}
