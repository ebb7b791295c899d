// Two Devices wired in memory: handshake, data both ways, keepalive, cryptokey routing, roaming,
// handshake-level protections (TAI64N replay, 20 ms flood, small-order keys) and garbage input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Device } from '../../../src/wireguard/device.js';
import {
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  RESPONSE_SIZE,
} from '../../../src/wireguard/constants.js';
import { mac } from '../../../src/wireguard/crypto.js';
import { mac1Key } from '../../../src/wireguard/cookie.js';
import { Initiation } from '../../../src/wireguard/messages.js';
import { establish, ipv4, ipv6, makeNode, makePair, prng, seededBytes, typeOf } from './_harness.js';

test('handshake: initiation 148 B, response 92 B, staged packet delivered, data both ways', () => {
  const p = makePair();
  const { a, b } = p;
  const pkt = ipv4(a.ip, b.ip, 100);
  a.dev.sendPacket(pkt);
  assert.equal(a.outbox.length, 1);
  assert.equal(typeOf(a.outbox[0]!), MESSAGE_INITIATION);
  assert.equal(a.outbox[0]!.data.length, INITIATION_SIZE);
  assert.deepEqual(a.dev.sessionState(b.pub)?.stagedPackets, 1);

  p.deliver((from, s) => {
    if (from === b) {
      assert.equal(typeOf(s), MESSAGE_RESPONSE);
      assert.equal(s.data.length, RESPONSE_SIZE);
    }
    return true;
  });
  assert.equal(b.tun.length, 1);
  assert.deepEqual(b.tun[0], pkt);
  assert.equal(a.dev.stats.handshakesCompleted, 1);
  assert.equal(b.dev.stats.handshakesCompleted, 1); // confirmed by the first data packet
  assert.deepEqual(b.dev.sessionState(a.pub), {
    previous: false,
    current: true,
    next: false,
    handshakeState: 0,
    stagedPackets: 0,
  });
  // B learned A's endpoint from the authenticated handshake (roaming, §2.1).
  assert.deepEqual(b.dev.peerStatus()[0]!.endpoint, a.ep);

  // Reply B -> A, over IPv6 too.
  const back = ipv4(b.ip, a.ip, 1000);
  b.dev.sendPacket(back);
  const v6 = ipv6(
    Uint8Array.from([0xfd, ...new Array(14).fill(0), 2]),
    Uint8Array.from([0xfd, ...new Array(14).fill(0), 1]),
    33,
  );
  b.dev.sendPacket(v6);
  assert.equal(b.outbox.length, 2);
  for (const s of b.outbox) {
    assert.equal(typeOf(s), MESSAGE_TRANSPORT);
    assert.equal((s.data.length - 32) % 16, 0, 'payload padded to 16');
  }
  p.deliver();
  assert.deepEqual(a.tun, [back, v6]);
  const sa = a.dev.peerStatus()[0]!;
  const sb = b.dev.peerStatus()[0]!;
  assert.ok(sa.txBytes > 0 && sa.rxBytes > 0 && sb.txBytes > 0 && sb.rxBytes > 0);
  assert.equal(sa.lastHandshakeWallMs, a.clock.wall);
});

test('handshake with a preshared key; mismatched PSKs never complete', () => {
  const psk = seededBytes(99)(32);
  const p = makePair({ psk });
  establish(p);
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  p.deliver();
  assert.equal(p.a.tun.length, 1);

  const q = makePair({ psk });
  q.b.dev.upsertPeer({ publicKey: q.a.pub, presharedKey: seededBytes(98)(32) });
  q.a.dev.sendPacket(ipv4(q.a.ip, q.b.ip));
  q.deliver();
  assert.equal(q.b.tun.length, 0);
  assert.equal(q.a.dev.stats.handshakesCompleted, 0);
  assert.equal(q.a.dev.stats.droppedInvalid, 1, 'response fails to authenticate at A');
});

test('padding stays within the MTU; keepalive is an empty, 32-byte transport message', () => {
  const p = makePair();
  establish(p);
  p.a.dev.mtu = 1420;
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip, 1419 - 20)); // 1419 bytes: padding to 1424 would pass the MTU
  assert.equal(p.a.outbox[0]!.data.length, 32 + 1420);
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip, 1 - 0)); // 21 bytes -> 32
  assert.equal(p.a.outbox[1]!.data.length, 32 + 32);
  p.deliver();
  assert.equal(p.b.tun.length, 2);
  assert.equal(p.b.tun[0]!.length, 1419);
  assert.equal(p.b.tun[1]!.length, 21);
  // B received data and sends nothing: after KEEPALIVE_TIMEOUT it sends a keepalive.
  p.advance(10_000);
  const ka = p.take(p.b);
  assert.equal(ka.length, 1);
  assert.equal(ka[0]!.data.length, 32);
  p.a.dev.receiveDatagram(ka[0]!.data, p.b.ep);
  assert.equal(p.a.dev.stats.keepalivesReceived, 1);
  assert.equal(p.a.tun.length, 0);
});

test('cryptokey routing: unknown destination dropped; inner source must belong to the sender', () => {
  const p = makePair();
  establish(p);
  p.a.dev.sendPacket(ipv4(p.a.ip, '10.9.9.9'));
  assert.equal(p.a.dev.stats.droppedNoPeer, 1);
  assert.equal(p.a.outbox.length, 0);
  // A sends a packet with a source outside what B allows for A.
  p.a.dev.sendPacket(ipv4('10.0.0.99', p.b.ip));
  p.deliver();
  assert.equal(p.b.tun.length, 0);
  assert.equal(p.b.dev.stats.droppedSourceMismatch, 1);
  // Allowing it fixes it.
  p.b.dev.addAllowedIp(p.a.pub, '10.0.0.0/24');
  p.a.dev.sendPacket(ipv4('10.0.0.99', p.b.ip));
  p.deliver();
  assert.equal(p.b.tun.length, 1);
  // A packet whose IP length claims more than was sent is dropped.
  const bad = ipv4(p.a.ip, p.b.ip, 10);
  bad[3] = 200;
  p.a.dev.sendPacket(bad);
  p.deliver();
  assert.equal(p.b.tun.length, 1);
  assert.equal(p.b.dev.stats.droppedInvalid, 1);
});

test('roaming: the endpoint follows the latest authenticated packet, not forged ones', () => {
  const p = makePair();
  establish(p);
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const moved = { address: '2001:db8::7', port: 40000 };
  const [d] = p.take(p.a);
  p.b.dev.receiveDatagram(d!.data, moved);
  assert.deepEqual(p.b.dev.peerStatus()[0]!.endpoint, moved);
  // A replayed copy from elsewhere is dropped and does not move the endpoint.
  p.b.dev.receiveDatagram(d!.data, { address: '203.0.113.5', port: 1 });
  assert.deepEqual(p.b.dev.peerStatus()[0]!.endpoint, moved);
  assert.equal(p.b.dev.stats.droppedReplay, 1);
  // A forged packet (bit flipped) neither.
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const [e] = p.take(p.a);
  e!.data[40]! ^= 1;
  p.b.dev.receiveDatagram(e!.data, { address: '203.0.113.5', port: 2 });
  assert.deepEqual(p.b.dev.peerStatus()[0]!.endpoint, moved);
  // Replies go to the new endpoint.
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  assert.deepEqual(p.b.outbox.at(-1)!.to, moved);
});

test('a replayed initiation (same TAI64N) is refused; a newer one is accepted', () => {
  const p = makePair();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const [init] = p.take(p.a);
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  assert.equal(p.b.outbox.length, 1);
  p.take(p.b);
  p.advance(1000);
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  assert.equal(p.b.outbox.length, 0);
  assert.equal(p.b.dev.stats.rejectedInitiationReplay, 1);
  // A's retransmission (new timestamp) goes through.
  p.advance(5400);
  const again = p.take(p.a).filter((s) => typeOf(s) === MESSAGE_INITIATION);
  assert.equal(again.length, 1);
  p.b.dev.receiveDatagram(again[0]!.data, p.a.ep);
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 2);
});

test('at most one initiation per peer per 20 ms is processed', () => {
  const p = makePair();
  const inits: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    // Only A's clock moves far (so A may initiate again and its TAI64N increases); B sees 10 ms steps.
    p.a.clock.advance(6000);
    p.a.dev.tick();
    p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
    inits.push(
      ...p
        .take(p.a)
        .filter((s) => typeOf(s) === MESSAGE_INITIATION)
        .map((s) => s.data),
    );
  }
  assert.equal(inits.length, 3);
  p.b.dev.receiveDatagram(inits[0]!, p.a.ep);
  p.b.clock.advance(10);
  p.b.dev.receiveDatagram(inits[1]!, p.a.ep);
  assert.equal(p.b.dev.stats.rejectedInitiationFlood, 1);
  p.b.clock.advance(10);
  p.b.dev.receiveDatagram(inits[2]!, p.a.ep);
  assert.equal(p.b.dev.stats.rejectedInitiationFlood, 1);
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 2);
});

test('all-zero DH results are rejected (small-order ephemeral and static keys)', () => {
  const p = makePair();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const [init] = p.take(p.a);
  const forged = Uint8Array.from(init!.data);
  forged.fill(0, Initiation.ephemeral, Initiation.ephemeral + 32);
  forged.set(mac(mac1Key(p.b.pub), forged.subarray(0, Initiation.mac1)), Initiation.mac1);
  p.b.dev.receiveDatagram(forged, p.a.ep);
  assert.equal(p.b.outbox.length, 0);
  assert.equal(p.b.dev.stats.droppedInvalid, 1);

  // A peer configured with a small-order public key can never be handshaken with.
  const c = makeNode('c', 5, '10.0.0.5', { address: '192.0.2.5', port: 1 });
  c.dev.upsertPeer({ publicKey: new Uint8Array(32), endpoint: p.b.ep, allowedIps: ['0.0.0.0/0'] });
  c.dev.sendPacket(ipv4(c.ip, '10.0.0.2'));
  assert.equal(c.outbox.length, 0);
  assert.equal(c.dev.stats.handshakeInitiationsSent, 0);
});

test('garbage, truncated and oversized datagrams are counted as drops and never throw', () => {
  const p = makePair();
  establish(p);
  const rnd = prng(42);
  const bytes = seededBytes(43);
  const dev = p.b.dev;
  const before = dev.stats.droppedInvalid + dev.stats.droppedReplay;
  let n = 0;
  const feed = (d: Uint8Array): void => {
    n++;
    assert.doesNotThrow(() => dev.receiveDatagram(d, { address: '198.51.100.1', port: 9 }));
  };
  for (let i = 0; i < 300; i++) feed(bytes(Math.floor(rnd() * 200)));
  for (const t of [1, 2, 3, 4]) {
    for (const len of [0, 1, 3, 4, 15, 31, 32, 63, 64, 91, 92, 93, 147, 148, 149, 1500]) {
      const d = bytes(len);
      if (len > 0) d[0] = t;
      if (len > 3) d[1] = d[2] = d[3] = 0;
      feed(d);
    }
  }
  // Real messages, truncated.
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip, 64));
  const [real] = p.take(p.a);
  for (let len = 0; len < real!.data.length; len++) feed(real!.data.subarray(0, len));
  // Oversized transport message.
  const big = new Uint8Array(70_000);
  big[0] = 4;
  big.set(real!.data.subarray(4, 16), 4);
  feed(big);
  assert.equal(dev.stats.droppedInvalid + dev.stats.droppedReplay - before, n);
  assert.equal(p.b.tun.length, 0);
  // Still works afterwards.
  dev.receiveDatagram(real!.data, p.a.ep);
  assert.equal(p.b.tun.length, 1);
  // Garbage from the TUN side too.
  for (const len of [0, 1, 19, 39]) assert.doesNotThrow(() => p.a.dev.sendPacket(bytes(len)));
});

test('configuration: upsert/remove peers, allowed IPs, key changes, down()', () => {
  const p = makePair();
  const { a, b } = p;
  assert.deepEqual(a.dev.publicKey, a.pub);
  assert.deepEqual(a.dev.privateKey, a.priv);
  assert.deepEqual(a.dev.peerStatus()[0]!.allowedIps, ['10.0.0.2/32', 'fd00::2/128']);
  a.dev.setAllowedIps(b.pub, ['10.1.0.7/16', '::/0']);
  assert.deepEqual(a.dev.peerStatus()[0]!.allowedIps, ['10.1.0.0/16', '::/0']);
  a.dev.removeAllowedIp(b.pub, '::/0');
  assert.deepEqual(a.dev.peerStatus()[0]!.allowedIps, ['10.1.0.0/16']);
  assert.throws(() => a.dev.setAllowedIps(b.pub, ['10.0.0.0/33']));
  assert.deepEqual(a.dev.peerStatus()[0]!.allowedIps, ['10.1.0.0/16']);
  // Partial update keeps other fields.
  a.dev.upsertPeer({ publicKey: b.pub, persistentKeepalive: 0 });
  assert.deepEqual(a.dev.peerStatus()[0]!.endpoint, b.ep);
  // Our own key as a peer is ignored; setting our key to a peer's key drops that peer.
  a.dev.upsertPeer({ publicKey: a.pub });
  assert.equal(a.dev.peerStatus().length, 1);
  a.dev.setPrivateKey(b.priv);
  assert.equal(a.dev.peerStatus().length, 0);
  a.dev.setPrivateKey(a.priv);
  a.dev.upsertPeer({ publicKey: b.pub, endpoint: b.ep, allowedIps: ['10.0.0.2/32'] });
  establish(p);
  a.dev.down();
  assert.equal(a.dev.nextDeadline(), null);
  assert.deepEqual(a.dev.sessionState(b.pub), {
    previous: false,
    current: false,
    next: false,
    handshakeState: 0,
    stagedPackets: 0,
  });
  a.dev.sendPacket(ipv4(a.ip, b.ip));
  assert.equal(a.outbox.length, 0);
  p.advance(1000); // a new TAI64N (whitened to ~16 ms) for the next initiation
  a.dev.up();
  a.dev.sendPacket(ipv4(a.ip, b.ip));
  p.deliver();
  assert.equal(b.tun.length, 1);
  a.dev.removeAllPeers();
  assert.equal(a.dev.peerStatus().length, 0);
  a.dev.sendPacket(ipv4(a.ip, b.ip));
  assert.equal(a.dev.stats.droppedNoPeer, 1);
  assert.throws(() => new Device({ out: { sendUdp() {}, writeTun() {} }, handshakeQueueCapacity: 0 }));
});

test('a changed private key invalidates sessions; with the new key configured, peers handshake again', () => {
  const p = makePair();
  establish(p);
  p.advance(6_000); // past REKEY_TIMEOUT since B's response, so B may initiate
  p.deliver(() => false);
  const newPriv = seededBytes(77)(32);
  p.b.dev.setPrivateKey(newPriv);
  // B's old sessions no longer send; it queues and initiates under its new identity, which A,
  // still configured with B's old key, cannot authenticate.
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  const out = p.take(p.b);
  assert.equal(out.filter((s) => typeOf(s) === MESSAGE_TRANSPORT).length, 0);
  assert.equal(out.filter((s) => typeOf(s) === MESSAGE_INITIATION).length, 1);
  p.a.dev.receiveDatagram(out[0]!.data, p.b.ep);
  assert.equal(p.a.outbox.length, 0);
  assert.equal(p.a.dev.stats.droppedInvalid, 1, "mac1 is keyed to A and fine, but B's new static is unknown");
  // Reconfigure A with B's new public key: traffic flows again.
  p.a.dev.removePeer(p.b.pub);
  p.a.dev.upsertPeer({ publicKey: p.b.dev.publicKey!, endpoint: p.b.ep, allowedIps: ['10.0.0.2/32'] });
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.deliver();
  assert.equal(p.b.tun.length, 1);
});

test('cookie reply size on the wire is 64 bytes', () => {
  assert.equal(COOKIE_REPLY_SIZE, 64);
});
