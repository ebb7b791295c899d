// Shared fixtures for the WireGuard core tests: fake clocks, a seeded PRNG, two Devices wired
// through an in-memory "network", and IP packet builders.
import { Device, type Endpoint } from '../../../src/wireguard/device.js';
import { publicKeyFrom } from '../../../src/wireguard/crypto.js';

/** mulberry32: small deterministic PRNG for reproducible keys, indices and jitter. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seededBytes(seed: number): (n: number) => Uint8Array {
  const r = prng(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

export class Clock {
  mono = 1_000;
  wall = 1_700_000_000_000;
  readonly now = (): number => this.mono;
  readonly wallNow = (): number => this.wall;
  advance(ms: number): void {
    this.mono += ms;
    this.wall += ms;
  }
}

export interface Sent {
  data: Uint8Array;
  to: Endpoint;
}

export interface TestNode {
  dev: Device;
  clock: Clock;
  ep: Endpoint;
  priv: Uint8Array;
  pub: Uint8Array;
  ip: string;
  /** Datagrams the device sent, copied (the device reuses its buffers). */
  outbox: Sent[];
  /** Packets the device wrote to its TUN, copied. */
  tun: Uint8Array[];
}

export function makeNode(
  name: string,
  seed: number,
  ip: string,
  ep: Endpoint,
  opts: { deferHandshakes?: boolean; handshakeQueueCapacity?: number } = {},
): TestNode {
  const clock = new Clock();
  const outbox: Sent[] = [];
  const tun: Uint8Array[] = [];
  const dev = new Device({
    out: {
      sendUdp: (data, to) => outbox.push({ data: Uint8Array.from(data), to: { ...to } }),
      writeTun: (p) => tun.push(Uint8Array.from(p)),
    },
    now: clock.now,
    wallNow: clock.wallNow,
    random: seededBytes(seed * 7919 + 1),
    ...opts,
  });
  const priv = seededBytes(seed)(32);
  dev.setPrivateKey(priv);
  void name;
  return { dev, clock, ep, priv, pub: publicKeyFrom(priv), ip, outbox, tun };
}

export interface Pair {
  a: TestNode;
  b: TestNode;
  /** Advance both clocks and run due timers on both devices. */
  advance(ms: number): void;
  /** Deliver everything queued in both outboxes (repeatedly) unless `filter` drops it. */
  deliver(filter?: (from: TestNode, s: Sent) => boolean): number;
  take(node: TestNode): Sent[];
  /** Deliver only what `from` has queued (one pass); the other outbox is left alone. */
  deliverFrom(from: TestNode): number;
}

/** A initiates (knows B's endpoint); B learns A's endpoint from the handshake. */
export function makePair(
  opts: { bOpts?: { deferHandshakes?: boolean; handshakeQueueCapacity?: number }; psk?: Uint8Array } = {},
): Pair {
  const a = makeNode('a', 1, '10.0.0.1', { address: '192.0.2.1', port: 51820 });
  const b = makeNode('b', 2, '10.0.0.2', { address: '192.0.2.2', port: 51821 }, opts.bOpts);
  a.dev.upsertPeer({
    publicKey: b.pub,
    endpoint: b.ep,
    allowedIps: ['10.0.0.2/32', 'fd00::2/128'],
    presharedKey: opts.psk ?? null,
  });
  b.dev.upsertPeer({
    publicKey: a.pub,
    allowedIps: ['10.0.0.1/32', 'fd00::1/128'],
    presharedKey: opts.psk ?? null,
  });
  const nodes = [a, b];
  const pair: Pair = {
    a,
    b,
    advance(ms: number) {
      // Step in pieces so timers run close to when they are due, as a real event loop would.
      let left = ms;
      while (left > 0) {
        const d = Math.min(left, nextStep(a, b, left));
        a.clock.advance(d);
        b.clock.advance(d);
        left -= d;
        for (const n of nodes) {
          const due = n.dev.nextDeadline();
          if (due !== null && due <= n.clock.mono) n.dev.tick();
        }
      }
    },
    deliver(filter) {
      let n = 0;
      for (let round = 0; round < 100; round++) {
        let moved = false;
        for (const from of nodes) {
          const to = from === a ? b : a;
          const batch = from.outbox.splice(0);
          for (const s of batch) {
            if (filter && !filter(from, s)) continue;
            if (s.to.address !== to.ep.address || s.to.port !== to.ep.port) continue;
            to.dev.receiveDatagram(s.data, from.ep);
            n++;
            moved = true;
          }
        }
        if (!moved) break;
      }
      return n;
    },
    take(node) {
      return node.outbox.splice(0);
    },
    deliverFrom(from) {
      const to = from === a ? b : a;
      let n = 0;
      for (const s of from.outbox.splice(0)) {
        if (s.to.address !== to.ep.address || s.to.port !== to.ep.port) continue;
        to.dev.receiveDatagram(s.data, from.ep);
        n++;
      }
      return n;
    },
  };
  return pair;
}

function nextStep(a: TestNode, b: TestNode, max: number): number {
  let step = max;
  for (const n of [a, b]) {
    const due = n.dev.nextDeadline();
    if (due !== null) step = Math.min(step, Math.max(1, Math.ceil(due - n.clock.mono)));
  }
  return step;
}

/** Minimal IPv4 packet (header checksum left zero: the core does not check it, the kernel would). */
export function ipv4(src: string, dst: string, payload: Uint8Array | number = 8): Uint8Array {
  const body =
    typeof payload === 'number' ? Uint8Array.from({ length: payload }, (_, i) => i & 0xff) : payload;
  const p = new Uint8Array(20 + body.length);
  p[0] = 0x45;
  p[2] = p.length >>> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.set(body, 20);
  return p;
}

export function ipv6(src: Uint8Array, dst: Uint8Array, payloadLen = 8): Uint8Array {
  const p = new Uint8Array(40 + payloadLen);
  p[0] = 0x60;
  p[4] = payloadLen >>> 8;
  p[5] = payloadLen & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  for (let i = 0; i < payloadLen; i++) p[40 + i] = i & 0xff;
  return p;
}

/** Runs a full handshake (A initiates with one data packet) and clears the outboxes/TUNs. */
export function establish(pair: Pair): void {
  pair.a.dev.sendPacket(ipv4(pair.a.ip, pair.b.ip));
  pair.deliver();
  pair.a.tun.length = 0;
  pair.b.tun.length = 0;
}

export const typeOf = (s: Sent): number => s.data[0]!;
