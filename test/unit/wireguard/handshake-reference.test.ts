// Checks the Device's handshake and transport framing against an independent implementation of
// §5.4 written here from the whitepaper, on different primitives: OpenSSL (node:crypto) for X25519
// and ChaCha20-Poly1305, @noble/hashes for BLAKE2s, HMAC and HKDF. No official WireGuard handshake
// vectors exist; this plus the interop tests against wireguard-go (I/O side) pin compatibility.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nc from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { Device, type Endpoint } from '../../../src/wireguard/device.js';
import { ipv4 } from './_harness.js';

const enc = new TextEncoder();
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const HASH = (...parts: Uint8Array[]): Uint8Array => blake2s(cat(...parts));
const MAC = (key: Uint8Array, msg: Uint8Array): Uint8Array => blake2s(msg, { key, dkLen: 16 });
const HMAC = (key: Uint8Array, msg: Uint8Array): Uint8Array => nobleHmac(blake2s, key, msg);
function KDF(n: number, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = HMAC(key, input);
  const out: Uint8Array[] = [];
  let prev: Uint8Array = new Uint8Array(0);
  for (let i = 1; i <= n; i++) {
    prev = HMAC(t0, cat(prev, Uint8Array.of(i)));
    out.push(prev);
  }
  return out;
}
const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const DH = (priv: Uint8Array, pub: Uint8Array): Uint8Array =>
  Uint8Array.from(
    nc.diffieHellman({
      privateKey: nc.createPrivateKey({ key: Buffer.concat([PKCS8, priv]), format: 'der', type: 'pkcs8' }),
      publicKey: nc.createPublicKey({ key: Buffer.concat([SPKI, pub]), format: 'der', type: 'spki' }),
    }),
  );
const PUB = (priv: Uint8Array): Uint8Array => {
  const jwk = nc
    .createPublicKey(nc.createPrivateKey({ key: Buffer.concat([PKCS8, priv]), format: 'der', type: 'pkcs8' }))
    .export({ format: 'jwk' });
  return Uint8Array.from(Buffer.from(jwk.x!, 'base64url'));
};
function nonce(counter: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(counter, 4);
  return n;
}
function AEAD(key: Uint8Array, counter: bigint, plain: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = nc.createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: plain.length });
  return cat(c.update(plain), c.final(), c.getAuthTag());
}
function UNAEAD(key: Uint8Array, counter: bigint, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  const d = nc.createDecipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: sealed.length - 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return cat(d.update(sealed.subarray(0, sealed.length - 16)), d.final());
}
function TAI64N(wallMs: number): Uint8Array {
  const b = Buffer.alloc(12);
  b.writeBigUInt64BE(0x400000000000000an + BigInt(Math.floor(wallMs / 1000)), 0);
  b.writeUInt32BE((((wallMs % 1000) * 1e6) & ~0xffffff) >>> 0, 8);
  return b;
}
const le32 = (v: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};

const C0 = HASH(enc.encode('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s'));
const H0 = HASH(C0, enc.encode('WireGuard v1 zx2c4 Jason@zx2c4.com'));

interface RefInit {
  msg: Uint8Array;
  c: Uint8Array;
  h: Uint8Array;
}

function refInitiation(
  sPrivI: Uint8Array,
  sPubR: Uint8Array,
  ePrivI: Uint8Array,
  sender: number,
  wallMs: number,
): RefInit {
  let c = C0;
  let h = HASH(H0, sPubR);
  const ePubI = PUB(ePrivI);
  [c] = KDF(1, c, ePubI) as [Uint8Array];
  h = HASH(h, ePubI);
  let k: Uint8Array;
  [c, k] = KDF(2, c, DH(ePrivI, sPubR)) as [Uint8Array, Uint8Array];
  const stat = AEAD(k, 0n, PUB(sPrivI), h);
  h = HASH(h, stat);
  [c, k] = KDF(2, c, DH(sPrivI, sPubR)) as [Uint8Array, Uint8Array];
  const ts = AEAD(k, 0n, TAI64N(wallMs), h);
  h = HASH(h, ts);
  const body = cat(Uint8Array.of(1, 0, 0, 0), le32(sender), ePubI, stat, ts);
  const mac1 = MAC(HASH(enc.encode('mac1----'), sPubR), body);
  return { msg: cat(body, mac1, new Uint8Array(16)), c, h };
}

/** Responder side of §5.4.3 given the initiator state; returns the response and transport keys. */
function refResponse(
  init: { c: Uint8Array; h: Uint8Array; ePubI: Uint8Array; sPubI: Uint8Array; senderI: number },
  ePrivR: Uint8Array,
  senderR: number,
  psk: Uint8Array,
): { msg: Uint8Array; sendR: Uint8Array; recvR: Uint8Array } {
  let { c, h } = init;
  const ePubR = PUB(ePrivR);
  [c] = KDF(1, c, ePubR) as [Uint8Array];
  h = HASH(h, ePubR);
  [c] = KDF(1, c, DH(ePrivR, init.ePubI)) as [Uint8Array];
  [c] = KDF(1, c, DH(ePrivR, init.sPubI)) as [Uint8Array];
  const [c2, tau, k] = KDF(3, c, psk) as [Uint8Array, Uint8Array, Uint8Array];
  c = c2;
  h = HASH(h, tau);
  const empty = AEAD(k, 0n, new Uint8Array(0), h);
  const body = cat(Uint8Array.of(2, 0, 0, 0), le32(senderR), le32(init.senderI), ePubR, empty);
  const mac1 = MAC(HASH(enc.encode('mac1----'), init.sPubI), body);
  const [tI2R, tR2I] = KDF(2, c, new Uint8Array(0)) as [Uint8Array, Uint8Array];
  return { msg: cat(body, mac1, new Uint8Array(16)), sendR: tR2I, recvR: tI2R };
}

function clamp(k: Uint8Array): Uint8Array {
  const c = Uint8Array.from(k);
  c[0]! &= 248;
  c[31]! &= 127;
  c[31]! |= 64;
  return c;
}

/** A Device whose random source replays a script, so its index and ephemeral key are known. */
function scriptedDevice(
  script: Uint8Array[],
  wall: number,
  sent: Array<{ data: Uint8Array; to: Endpoint }>,
  tun: Uint8Array[],
): Device {
  return new Device({
    out: {
      sendUdp: (d, to) => sent.push({ data: Uint8Array.from(d), to }),
      writeTun: (p) => tun.push(Uint8Array.from(p)),
    },
    now: () => 5_000,
    wallNow: () => wall,
    random: (n) => {
      const next = script.shift();
      if (next !== undefined && next.length === n) return next;
      return new Uint8Array(n).fill(7);
    },
  });
}

const fixed = (seed: number): Uint8Array =>
  Uint8Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 17) & 0xff);

test('Device as initiator: initiation bytes equal the reference; reference responder completes it', () => {
  const sPrivI = clamp(fixed(1));
  const sPrivR = clamp(fixed(2));
  const ePrivI = fixed(3);
  const ePrivR = clamp(fixed(4));
  const psk = fixed(5);
  const wall = 1_700_000_123_456;
  const index = 0x11223344;
  const sent: Array<{ data: Uint8Array; to: Endpoint }> = [];
  const tun: Uint8Array[] = [];
  const dev = scriptedDevice([le32(index), ePrivI], wall, sent, tun);
  dev.setPrivateKey(sPrivI);
  const ep = { address: '192.0.2.2', port: 51820 };
  dev.upsertPeer({ publicKey: PUB(sPrivR), endpoint: ep, presharedKey: psk, allowedIps: ['10.0.0.2/32'] });
  const pkt = ipv4('10.0.0.1', '10.0.0.2', 37);
  dev.sendPacket(pkt);
  assert.equal(sent.length, 1);

  const ref = refInitiation(sPrivI, PUB(sPrivR), clamp(ePrivI), index, wall);
  assert.equal(Buffer.from(sent[0]!.data).toString('hex'), Buffer.from(ref.msg).toString('hex'));

  // Reference responder answers; the device completes and sends the queued packet.
  const resp = refResponse(
    { c: ref.c, h: ref.h, ePubI: PUB(clamp(ePrivI)), sPubI: PUB(sPrivI), senderI: index },
    ePrivR,
    0xaabbccdd,
    psk,
  );
  dev.receiveDatagram(resp.msg, ep);
  assert.equal(dev.stats.handshakesCompleted, 1);
  const data = sent[1]!.data;
  assert.equal(data[0], 4);
  assert.equal(Buffer.from(data.subarray(4, 8)).readUInt32LE(), 0xaabbccdd, 'receiver = responder index');
  assert.equal(Buffer.from(data.subarray(8, 16)).readBigUInt64LE(), 0n, 'first counter is 0');
  const plain = UNAEAD(resp.recvR, 0n, data.subarray(16), new Uint8Array(0));
  assert.equal(plain.length, 64, '57 bytes padded to 64');
  assert.deepEqual(plain.subarray(0, pkt.length), pkt);
  assert.ok(plain.subarray(pkt.length).every((x) => x === 0));

  // Reference sends back with counter 0 and 1 (out of order); the device delivers both.
  const reply = ipv4('10.0.0.2', '10.0.0.1', 12);
  for (const ctr of [1n, 0n]) {
    const ct = AEAD(resp.sendR, ctr, cat(reply, new Uint8Array(16 - (reply.length % 16))), new Uint8Array(0));
    const hdr = Buffer.alloc(16);
    hdr[0] = 4;
    hdr.writeUInt32LE(index, 4);
    hdr.writeBigUInt64LE(ctr, 8);
    dev.receiveDatagram(cat(hdr, ct), ep);
  }
  assert.equal(tun.length, 2);
  assert.deepEqual(tun[0], reply);
});

test('Device as responder: reference initiation accepted; its response verifies in the reference', () => {
  const sPrivI = clamp(fixed(11));
  const sPrivR = clamp(fixed(12));
  const ePrivI = clamp(fixed(13));
  const ePrivR = fixed(14);
  const wall = 1_700_000_999_000;
  const sent: Array<{ data: Uint8Array; to: Endpoint }> = [];
  const tun: Uint8Array[] = [];
  const indexR = 0x01020304;
  const dev = scriptedDevice([le32(indexR), ePrivR], wall, sent, tun);
  dev.setPrivateKey(sPrivR);
  dev.upsertPeer({ publicKey: PUB(sPrivI), allowedIps: ['10.0.0.1/32'] });
  const from = { address: '2001:db8::1', port: 4444 };
  const ref = refInitiation(sPrivI, PUB(sPrivR), ePrivI, 0x99, wall - 5000);
  dev.receiveDatagram(ref.msg, from);
  assert.equal(sent.length, 1);
  const resp = sent[0]!.data;
  assert.deepEqual(sent[0]!.to, from);

  // Recompute the expected response with the reference (no PSK = 32 zero bytes).
  const expected = refResponse(
    { c: ref.c, h: ref.h, ePubI: PUB(ePrivI), sPubI: PUB(sPrivI), senderI: 0x99 },
    clamp(ePrivR),
    indexR,
    new Uint8Array(32),
  );
  assert.equal(Buffer.from(resp).toString('hex'), Buffer.from(expected.msg).toString('hex'));

  // The initiator's keys are the responder's reversed; send data from the "initiator".
  const pkt = ipv4('10.0.0.1', '10.0.0.2', 4);
  const ct = AEAD(expected.recvR, 0n, cat(pkt, new Uint8Array(8)), new Uint8Array(0));
  const hdr = Buffer.alloc(16);
  hdr[0] = 4;
  hdr.writeUInt32LE(indexR, 4);
  dev.receiveDatagram(cat(hdr, ct), from);
  assert.deepEqual(tun, [pkt]);
  assert.equal(dev.stats.handshakesCompleted, 1);
});
