// Every §6 timer, driven by fake clocks through two in-memory Devices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGE_INITIATION, MESSAGE_TRANSPORT } from '../../../src/wireguard/constants.js';
import { establish, ipv4, makePair, typeOf, type Sent } from './_harness.js';

const initiations = (s: Sent[]): Sent[] => s.filter((x) => typeOf(x) === MESSAGE_INITIATION);

test('initiator rekeys when sending on a session older than REKEY_AFTER_TIME (120 s)', () => {
  const p = makePair();
  establish(p);
  // Keep the session busy both ways without crossing 120 s.
  p.advance(119_000);
  p.deliver();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  assert.equal(initiations(p.take(p.a)).length, 0);
  p.advance(1_000);
  p.deliver(() => false); // drop anything timers produced meanwhile
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const out = p.take(p.a);
  assert.equal(
    out.filter((s) => typeOf(s) === MESSAGE_TRANSPORT).length,
    1,
    'the packet still goes out on the old session',
  );
  assert.equal(initiations(out).length, 1);
  // The responder never rekeys on send (§6.2: only the initiator of a session does).
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  assert.equal(initiations(p.take(p.b)).length, 0);
});

test('retransmits every REKEY_TIMEOUT + jitter (5 s..5.333 s) and gives up after REKEY_ATTEMPT_TIME', () => {
  const p = makePair();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const times: number[] = [p.a.clock.mono];
  p.take(p.a);
  for (let t = 0; t < 120_000; t += 10) {
    p.advance(10);
    if (initiations(p.take(p.a)).length > 0) times.push(p.a.clock.mono);
  }
  // The first initiation plus MAX_TIMER_HANDSHAKES (90/5 = 18) retries.
  assert.equal(times.length, 19);
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    assert.ok(gap >= 5_000 && gap <= 5_343, `gap ${gap}`);
  }
  assert.ok(times.at(-1)! - times[0]! >= 90_000 && times.at(-1)! - times[0]! <= 96_000);
  // Giving up flushed the queued packet.
  assert.equal(p.a.dev.sessionState(p.b.pub)!.stagedPackets, 0);
  assert.equal(p.a.dev.stats.droppedStaged, 1);
  // New traffic starts a fresh round.
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  assert.equal(initiations(p.take(p.a)).length, 1);
});

test('jitter differs between retries (not a fixed 5 s)', () => {
  const p = makePair();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.take(p.a);
  const gaps = new Set<number>();
  let last = p.a.clock.mono;
  for (let t = 0; t < 40_000; t += 1) {
    p.advance(1);
    if (initiations(p.take(p.a)).length > 0) {
      gaps.add(p.a.clock.mono - last);
      last = p.a.clock.mono;
    }
  }
  assert.ok(gaps.size >= 3, `gaps ${[...gaps].join(',')}`);
});

test('keepalive after KEEPALIVE_TIMEOUT (10 s) of received data without a reply, and only then', () => {
  const p = makePair();
  establish(p);
  p.advance(9_900);
  assert.equal(p.b.outbox.length, 0);
  p.advance(100);
  const ka = p.take(p.b);
  assert.equal(ka.length, 1);
  assert.equal(ka[0]!.data.length, 32);
  // If B answers with data itself, no keepalive is needed.
  p.deliver();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.deliver();
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  p.take(p.b);
  p.advance(20_000);
  assert.equal(p.b.outbox.filter((s) => s.data.length === 32).length, 0);
});

test('persistent keepalive every N seconds, sent at once when enabled', () => {
  const p = makePair();
  establish(p);
  p.advance(10_000);
  p.deliver();
  p.a.dev.upsertPeer({ publicKey: p.b.pub, persistentKeepalive: 25 });
  assert.equal(p.take(p.a).length, 1, 'immediate keepalive on enabling');
  const times: number[] = [];
  for (let t = 0; t < 100_000; t += 100) {
    p.advance(100);
    const out = p.take(p.a);
    if (out.some((s) => typeOf(s) === MESSAGE_TRANSPORT && s.data.length === 32)) times.push(p.a.clock.mono);
    p.take(p.b);
  }
  // Keepalives go out every 25 s (t=25, 50, 75, 100 s). The session is 110 s old at the end: no rekey.
  assert.equal(times.length, 4);
  for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, 25_000);
  p.a.dev.upsertPeer({ publicKey: p.b.pub, persistentKeepalive: 0 });
  p.advance(60_000);
  assert.equal(p.take(p.a).filter((s) => s.data.length === 32).length, 0);
});

test('sessions are refused after REJECT_AFTER_TIME (180 s)', () => {
  const p = makePair();
  establish(p);
  p.advance(100_000);
  p.take(p.b);
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  const [early] = p.take(p.b);
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  const [late] = p.take(p.b);
  p.a.dev.receiveDatagram(early!.data, p.b.ep);
  assert.equal(p.a.tun.length, 1);
  p.advance(80_000); // session is now 180 s old
  p.take(p.a);
  p.take(p.b);
  const before = p.a.dev.stats.droppedInvalid;
  p.a.dev.receiveDatagram(late!.data, p.b.ep);
  assert.equal(p.a.tun.length, 1);
  assert.equal(p.a.dev.stats.droppedInvalid, before + 1);
  // And nothing is sent on it: B queues the packet (its handshake retries are already running,
  // started by the dead-peer timer when A's answers never arrived).
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  const out = p.take(p.b);
  assert.equal(out.filter((s) => typeOf(s) === MESSAGE_TRANSPORT).length, 0);
  assert.equal(p.b.dev.sessionState(p.a.pub)!.stagedPackets, 1);
});

test('initiator rekeys on receive once the session is REJECT_AFTER_TIME - 15 s old (once)', () => {
  const p = makePair();
  establish(p);
  p.advance(164_000);
  p.deliver(() => false);
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  p.deliverFrom(p.b);
  assert.equal(initiations(p.take(p.a)).length, 0);
  p.advance(1_000);
  p.deliver(() => false);
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  p.deliverFrom(p.b);
  assert.equal(initiations(p.take(p.a)).length, 1);
  p.advance(6_000);
  p.take(p.a);
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  p.deliverFrom(p.b);
  assert.equal(initiations(p.take(p.a)).length, 0, 'only one last-minute handshake per session');
});

test('new handshake after KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) of unanswered data', () => {
  const p = makePair();
  establish(p);
  // B answers A's first packet, so the dead-peer timer armed by it is cancelled.
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip));
  p.deliver();
  p.advance(1_000);
  p.deliver(() => false);
  const sentAt = p.a.clock.mono;
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  p.take(p.a); // lost: B never answers
  let at = -1;
  for (let t = 0; t < 20_000; t += 1) {
    p.advance(1);
    if (initiations(p.take(p.a)).length > 0) {
      at = p.a.clock.mono - sentAt;
      break;
    }
  }
  assert.ok(at >= 15_000 && at <= 15_334, `re-handshake after ${at} ms`);

  // With an answer (even a keepalive) in time, no new handshake.
  const q = makePair();
  establish(q);
  q.advance(1_000);
  q.deliver();
  q.a.dev.sendPacket(ipv4(q.a.ip, q.b.ip));
  q.deliver();
  let inits = 0;
  for (let t = 0; t < 30; t++) {
    q.advance(1_000);
    inits += initiations(q.a.outbox).length;
    q.deliver();
  }
  assert.equal(inits, 0);
});

test('all key material is erased after 3 * REJECT_AFTER_TIME (540 s) without a new session', () => {
  const p = makePair();
  establish(p);
  p.advance(539_000);
  p.deliver(() => false);
  assert.equal(p.a.dev.sessionState(p.b.pub)!.current, true);
  p.advance(1_000);
  assert.deepEqual(p.a.dev.sessionState(p.b.pub), {
    previous: false,
    current: false,
    next: false,
    handshakeState: 0,
    stagedPackets: 0,
  });
  assert.equal(p.b.dev.sessionState(p.a.pub)!.current, false);
  // With nothing pending the device needs no timer.
  p.deliver(() => false);
  assert.equal(p.a.dev.nextDeadline(), null);
});

test('queued packets are sent in order once the session exists', () => {
  const p = makePair();
  for (let i = 0; i < 5; i++) p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip, 10 + i));
  p.deliver();
  assert.deepEqual(
    p.b.tun.map((x) => x.length),
    [30, 31, 32, 33, 34],
  );
});

test('the responder does not send on a new session before key confirmation', () => {
  const p = makePair();
  p.a.dev.sendPacket(ipv4(p.a.ip, p.b.ip));
  const [init] = p.take(p.a);
  p.b.dev.receiveDatagram(init!.data, p.a.ep);
  const [resp] = p.take(p.b);
  assert.deepEqual(p.b.dev.sessionState(p.a.pub), {
    previous: false,
    current: false,
    next: true,
    handshakeState: 0,
    stagedPackets: 0,
  });
  // B has data for A, but only `next`: it must wait (queued), not use the unconfirmed session.
  p.b.dev.sendPacket(ipv4(p.b.ip, p.a.ip, 5));
  assert.equal(p.b.outbox.filter((s) => typeOf(s) === MESSAGE_TRANSPORT).length, 0);
  assert.equal(p.b.dev.sessionState(p.a.pub)!.stagedPackets, 1);
  // A completes and confirms; B then flushes its queue.
  p.a.dev.receiveDatagram(resp!.data, p.b.ep);
  p.deliver();
  assert.equal(p.a.tun.length, 1);
  assert.equal(p.a.tun[0]!.length, 25);
});
