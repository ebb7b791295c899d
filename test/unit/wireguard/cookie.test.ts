// DoS mitigation: mac1 filtering, cookie replies under load, mac2, per-source rate limiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COOKIE_REPLY_SIZE,
  DEFAULT_HANDSHAKE_QUEUE_CAPACITY,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
} from '../../../src/wireguard/constants.js';
import { CookieChecker, CookieGenerator } from '../../../src/wireguard/cookie.js';
import { Initiation } from '../../../src/wireguard/messages.js';
import { RateLimiter } from '../../../src/wireguard/ratelimiter.js';
import { ipv4, makePair, seededBytes, typeOf } from './_harness.js';
import { publicKeyFrom } from '../../../src/wireguard/crypto.js';

test('a handshake under load goes through a cookie round trip and mac2', () => {
  const p = makePair();
  p.b.dev.underLoad = () => true;
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.deliverFrom(p.a);
  const replies = p.take(p.b);
  assert.equal(replies.length, 1);
  assert.equal(typeOf(replies[0]!), MESSAGE_COOKIE_REPLY);
  assert.equal(replies[0]!.data.length, COOKIE_REPLY_SIZE);
  assert.equal(p.b.dev.stats.cookieRepliesSent, 1);
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 0);
  p.a.dev.receiveDatagram(replies[0]!.data, p.b.ep);
  assert.equal(p.a.dev.stats.cookieRepliesReceived, 1);
  // The same reply again is refused (bound to one mac1).
  p.a.dev.receiveDatagram(replies[0]!.data, p.b.ep);
  assert.equal(p.a.dev.stats.cookieRepliesReceived, 1);
  // No immediate resend; the retransmission carries mac2 and is processed.
  assert.equal(p.a.outbox.length, 0);
  p.advance(5_400);
  const retry = p.a.outbox.filter((s) => typeOf(s) === MESSAGE_INITIATION);
  assert.equal(retry.length, 1);
  assert.ok(
    retry[0]!.data.subarray(Initiation.mac2).some((x) => x !== 0),
    'mac2 present',
  );
  p.deliver();
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 1);
  assert.equal(p.b.tun.length, 1);
  assert.equal(p.a.dev.stats.handshakesCompleted, 1);
});

test('a cookie is bound to the source address: mac2 from elsewhere gets another cookie reply', () => {
  const p = makePair();
  p.b.dev.underLoad = () => true;
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.deliverFrom(p.a);
  p.a.dev.receiveDatagram(p.take(p.b)[0]!.data, p.b.ep);
  p.advance(5_400);
  const [retry] = p.take(p.a);
  p.b.dev.receiveDatagram(retry!.data, { address: '198.51.100.9', port: p.a.ep.port });
  assert.equal(p.b.dev.stats.cookieRepliesSent, 2);
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 0);
});

test('messages with a bad mac1 are dropped before anything else, loaded or not', () => {
  const p = makePair();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const [init] = p.take(p.a);
  const bad = Uint8Array.from(init!.data);
  bad[Initiation.mac1]! ^= 1;
  p.b.dev.receiveDatagram(bad, p.a.ep);
  p.b.dev.underLoad = () => true;
  p.b.dev.receiveDatagram(bad, p.a.ep);
  assert.equal(p.b.outbox.length, 0);
  assert.equal(p.b.dev.stats.droppedInvalid, 2);
  assert.equal(p.b.dev.stats.cookieRepliesSent, 0);
});

test('queue depth >= capacity/8 puts the device under load (deferred handshake mode)', () => {
  const p = makePair({ bOpts: { deferHandshakes: true, handshakeQueueCapacity: 16 } });
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const [init] = p.take(p.a);
  // One queued message: not loaded, processed normally by tick().
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  assert.equal(p.b.dev.nextDeadline(), p.b.clock.mono, 'queued handshakes make tick() due now');
  p.b.dev.tick();
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 1);
  p.take(p.b);
  // A burst of 2 (= 16/8): loaded, so cookie replies instead.
  p.advance(2_000);
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  assert.equal(p.b.dev.processHandshakes(), 2);
  assert.equal(p.b.dev.stats.cookieRepliesSent, 2);
  // Load persists for a second after the queue drained (UNDER_LOAD_AFTER), then ends.
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  p.b.dev.processHandshakes();
  assert.equal(p.b.dev.stats.cookieRepliesSent, 3);
  p.b.clock.advance(1_001);
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  p.b.dev.processHandshakes();
  assert.equal(p.b.dev.stats.cookieRepliesSent, 3);
  assert.equal(p.b.dev.stats.rejectedInitiationReplay, 1);
  // The queue is bounded.
  for (let i = 0; i < 20; i++) p.b.dev.receiveDatagram(init!.data, p.a.ep);
  assert.equal(p.b.dev.stats.droppedHandshakeQueueFull, 4);
  assert.equal(DEFAULT_HANDSHAKE_QUEUE_CAPACITY, 1024);
});

test('under load, valid-mac2 handshakes are rate limited per source (burst 5, then 20/s)', () => {
  const p = makePair();
  p.b.dev.underLoad = () => true;
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.deliverFrom(p.a);
  p.a.dev.receiveDatagram(p.take(p.b)[0]!.data, p.b.ep);
  p.advance(5_400);
  const [retry] = p.take(p.a).filter((s) => typeOf(s) === MESSAGE_INITIATION);
  for (let i = 0; i < 10; i++) p.b.dev.receiveDatagram(retry!.data, p.a.ep);
  assert.equal(p.b.dev.stats.droppedRateLimited, 5);
  assert.equal(p.b.dev.stats.handshakeResponsesSent, 1); // the rest of the 5 were TAI64N replays
  assert.equal(p.b.dev.stats.rejectedInitiationReplay, 4);
  // Another source has its own bucket.
  // (Its mac2 is bound to A's address, so it is answered with a cookie instead: not rate limited.)
  p.b.dev.receiveDatagram(retry!.data, { address: '192.0.2.77', port: p.a.ep.port });
  assert.equal(p.b.dev.stats.droppedRateLimited, 5);
});

test('RateLimiter: burst then steady rate, refill over time, idle entries collected', () => {
  const r = new RateLimiter();
  let ok = 0;
  for (let i = 0; i < 10; i++) if (r.allow('a', 0)) ok++;
  assert.equal(ok, 5);
  assert.equal(r.allow('b', 0), true);
  assert.equal(r.allow('a', 49), false);
  assert.equal(r.allow('a', 50), true); // 1/20 s later, one more
  ok = 0;
  for (let t = 100; t < 1100; t += 10) if (r.allow('a', t)) ok++;
  assert.ok(ok >= 19 && ok <= 21, `${ok} in one second`);
  r.gc(5000);
  assert.equal(r.size, 0);
});

test('CookieChecker/CookieGenerator: mac2 validity follows the 120 s secret', () => {
  const random = seededBytes(3);
  const responderPub = publicKeyFrom(random(32));
  const checker = new CookieChecker(responderPub, random);
  const gen = new CookieGenerator(responderPub);
  const src = Uint8Array.of(192, 0, 2, 1, 0xca, 0x6c);
  const msg = random(148);
  gen.addMacs(msg, Initiation.mac1, 0);
  assert.ok(checker.checkMac1(msg, Initiation.mac1));
  assert.equal(checker.checkMac2(msg, Initiation.mac1, src, 0), false);
  const reply = checker.createReply(msg, Initiation.mac1, 1234, src, 0);
  assert.ok(gen.consumeReply(reply, 0));
  gen.addMacs(msg, Initiation.mac1, 1);
  assert.ok(checker.checkMac2(msg, Initiation.mac1, src, 1));
  assert.equal(checker.checkMac2(msg, Initiation.mac1, Uint8Array.of(192, 0, 2, 1, 0xca, 0x6d), 1), false);
  // The responder's secret expires after 120 s: the old cookie stops working.
  assert.equal(checker.checkMac2(msg, Initiation.mac1, src, 120_000), false);
  // The initiator stops sending mac2 once its cookie is 120 s old.
  gen.addMacs(msg, Initiation.mac1, 120_001);
  assert.ok(msg.subarray(Initiation.mac2).every((x) => x === 0));
});
