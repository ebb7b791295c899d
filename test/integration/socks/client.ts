// A minimal SOCKS client for tests that need what curl cannot do (BIND, UDP ASSOCIATE, malformed and
// refused requests). Written from RFC 1928/1929 and the SOCKS4 text, independently of the server's
// codec (no imports from src/inbound/socks).
import { connect, isIPv4, isIPv6, type Socket } from 'node:net';

/** Reads a socket as a byte stream: read(n) resolves with exactly n bytes, or rejects on close. */
export class Reader {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  ended = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.waiter?.();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection closed after ${this.buf.length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out reading ${n} bytes (have ${this.buf.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Everything received until the peer closes. */
  async rest(timeoutMs = 5000): Promise<Buffer> {
    const t = setTimeout(() => this.socket.destroy(new Error('rest() timed out')), timeoutMs);
    await this.closed;
    clearTimeout(t);
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  get pending(): number {
    return this.buf.length;
  }
}

export async function open(port: number, host = '127.0.0.1', localAddress?: string): Promise<Reader> {
  const s = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
  const r = new Reader(s);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return r;
}

export function encodeAddr(host: string, port: number): Buffer {
  const p = Buffer.from([port >> 8, port & 0xff]);
  if (isIPv4(host)) return Buffer.concat([Buffer.from([0x01, ...host.split('.').map(Number)]), p]);
  if (isIPv6(host)) return Buffer.concat([Buffer.from([0x04]), ipv6Bytes(host), p]);
  const name = Buffer.from(host, 'latin1');
  return Buffer.concat([Buffer.from([0x03, name.length]), name, p]);
}

function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return b;
}

export interface Reply {
  rep: number;
  host: string;
  port: number;
}

/** Reads ATYP | ADDR | PORT. */
export async function readAddr(r: Reader): Promise<{ host: string; port: number }> {
  const atyp = (await r.read(1))[0];
  let host: string;
  if (atyp === 0x01) host = [...(await r.read(4))].join('.');
  else if (atyp === 0x04) {
    const b = await r.read(16);
    host = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
  } else if (atyp === 0x03) host = (await r.read((await r.read(1))[0]!)).toString('latin1');
  else throw new Error(`bad ATYP ${atyp} in reply`);
  const port = (await r.read(2)).readUInt16BE(0);
  return { host, port };
}

export async function readReply5(r: Reader): Promise<Reply> {
  const h = await r.read(3);
  if (h[0] !== 5) throw new Error(`reply version ${h[0]}`);
  return { rep: h[1]!, ...(await readAddr(r)) };
}

/** Greeting (+ RFC 1929 login when credentials are given). Resolves with the selected method. */
export async function greet5(r: Reader, creds?: { user: string; password: string }): Promise<number> {
  r.socket.write(Buffer.from(creds ? [5, 1, 2] : [5, 1, 0]));
  const sel = await r.read(2);
  if (sel[0] !== 5) throw new Error(`method selection version ${sel[0]}`);
  if (sel[1] === 2 && creds) {
    const u = Buffer.from(creds.user);
    const p = Buffer.from(creds.password);
    r.socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const st = await r.read(2);
    if (st[1] !== 0) throw new Error(`authentication failed (status ${st[1]})`);
  }
  return sel[1]!;
}

export function request5(cmd: number, host: string, port: number): Buffer {
  return Buffer.concat([Buffer.from([5, cmd, 0]), encodeAddr(host, port)]);
}

export function request4(cmd: number, ip: string, port: number, userId = '', host?: string): Buffer {
  const parts = [
    Buffer.from([4, cmd, port >> 8, port & 0xff, ...ip.split('.').map(Number)]),
    Buffer.from(userId),
    Buffer.from([0]),
  ];
  if (host !== undefined) parts.push(Buffer.from(host), Buffer.from([0]));
  return Buffer.concat(parts);
}

export async function readReply4(r: Reader): Promise<Reply> {
  const b = await r.read(8);
  if (b[0] !== 0) throw new Error(`SOCKS4 reply version ${b[0]}`);
  return { rep: b[1]!, port: b.readUInt16BE(2), host: [...b.subarray(4, 8)].join('.') };
}
