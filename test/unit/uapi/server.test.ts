// The UAPI socket server's framing, on a socket in a temporary directory (no root needed): several
// operations per connection, replies exactly as wireguard-go writes them, hang-up on an unknown
// operation or an endless line, socket mode 0700, and removal on close.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { UapiServer } from '../../../src/wireguard/uapi/server.js';
import { toHex, type UapiDeviceState, type UapiTarget } from '../../../src/wireguard/uapi/protocol.js';

/** Sends `request`, collects everything until the server closes or `until` matches. */
function talk(path: string, request: string, until?: RegExp): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    let data = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(request));
    s.on('data', (d: string) => {
      data += d;
      if (until && until.test(data)) {
        s.destroy();
        resolve({ data, closed: false });
      }
    });
    s.on('close', () => resolve({ data, closed: true }));
    s.on('error', () => undefined);
  });
}

describe('UAPI server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-uapi-'));
  let server: UapiServer;
  const state: UapiDeviceState = { privateKey: null, listenPort: 51820, fwmark: 0, peers: [] };
  const order: string[] = [];
  const target: UapiTarget = {
    publicKey: () => null,
    setPrivateKey: (k) => void (state.privateKey = k),
    setListenPort: async (p) => {
      order.push(`port ${p} start`);
      await new Promise((r) => setTimeout(r, 20));
      state.listenPort = p;
      order.push(`port ${p} done`);
    },
    setFwmark: (m) => void (state.fwmark = m),
    removeAllPeers: () => undefined,
    hasPeer: () => false,
    createPeer: () => undefined,
    removePeer: () => undefined,
    updatePeer: () => undefined,
    clearAllowedIps: () => undefined,
    addAllowedIp: () => undefined,
  };
  before(async () => {
    server = await UapiServer.listen('wgtest0', { state: () => state, target }, dir);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket with mode 0700', () => {
    const st = statSync(server.path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o700);
  });

  it('answers get and set, several per connection', async () => {
    const key = toHex(new Uint8Array(32).fill(9));
    const r = await talk(
      server.path,
      `set=1\nprivate_key=${key}\nfwmark=7\n\nget=1\n\n`,
      /errno=0\n\n[^]*errno=0\n\n$/,
    );
    assert.equal(r.data, `errno=0\n\nprivate_key=${key}\nlisten_port=51820\nfwmark=7\nerrno=0\n\n`);
  });

  it('replies errno and keeps serving after a rejected set', async () => {
    const r = await talk(server.path, 'set=1\nbogus=1\n', /errno=-22\n\n$/);
    assert.equal(r.data, 'errno=-22\n\n');
    const g = await talk(server.path, 'get=1\n\n', /errno=0\n\n$/);
    assert.match(g.data, /listen_port=/);
  });

  it('get=1 must be followed by an empty line', async () => {
    const r = await talk(server.path, 'get=1\nx', /errno=-22\n\n$/);
    assert.equal(r.data, 'errno=-22\n\n');
  });

  it('hangs up on an unknown operation and on an endless line', async () => {
    assert.deepEqual(await talk(server.path, 'put=1\n'), { data: '', closed: true });
    assert.deepEqual(await talk(server.path, 'set=1\n' + 'x'.repeat(10_000)), { data: '', closed: true });
  });

  it('treats end of input as the end of a set', async () => {
    const s = createConnection(server.path);
    const reply = await new Promise<string>((resolve) => {
      let d = '';
      s.on('data', (c) => (d += c.toString()));
      s.on('end', () => resolve(d));
      s.on('connect', () => s.end('set=1\nfwmark=9\n'));
    });
    assert.equal(reply, 'errno=0\n\n');
    assert.equal(state.fwmark, 9);
  });

  it('runs operations from different connections one at a time', async () => {
    order.length = 0;
    await Promise.all([
      talk(server.path, 'set=1\nlisten_port=1001\n\n', /errno/),
      talk(server.path, 'set=1\nlisten_port=1002\n\n', /errno/),
    ]);
    assert.deepEqual(
      order.map((o) => o.split(' ')[2]),
      ['start', 'done', 'start', 'done'],
    );
  });

  it('notices when its socket file is removed, and replaces a stale one on start', async () => {
    const other = await UapiServer.listen('wgtest1', { state: () => state, target }, dir);
    const removed = new Promise<void>((r) => other.onRemoved(r));
    unlinkSync(other.path);
    await removed;
    await other.close();
    // A socket file nobody listens on (a crashed daemon's) is taken over.
    const third = await UapiServer.listen('wgtest1', { state: () => state, target }, dir);
    assert.ok(existsSync(third.path));
    await third.close();
    assert.ok(!existsSync(third.path));
  });
});
