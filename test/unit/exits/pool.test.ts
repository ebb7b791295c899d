// The pool's choice logic with fake exits: strategies, rotation, sticky sessions (with a fake
// clock), tag filters, passive health and bounded failover.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { FerryError } from '../../../src/core/errors.js';
import { makeDestination, type Session } from '../../../src/core/session.js';
import type { DialOptions, Outbound } from '../../../src/outbound/outbound.js';
import { reuseKey } from '../../../src/outbound/outbound.js';
import { PoolOutbound, type PoolConfig } from '../../../src/outbound/pool/pool.js';
import { exitFault } from '../../../src/outbound/upstream/fault.js';
import { ALLOW_ALL } from '../../../src/router/address-guard.js';

class FakeExit implements Outbound {
  readonly kind = 'fake';
  dials = 0;
  broken = false;
  destRefuses = false;
  /** Session.exit as the member saw it on its last dial. */
  sawExit: string | undefined = 'never dialed';
  constructor(readonly name: string) {}
  async dial(_d: unknown, o: DialOptions): Promise<Socket> {
    this.dials++;
    this.sawExit = o.session.exit;
    if (this.broken) throw exitFault(new FerryError('E_UPSTREAM_REFUSED', `${this.name} is down`));
    if (this.destRefuses) throw new FerryError('E_UPSTREAM_REFUSED', 'destination refused');
    const s = new EventEmitter() as unknown as Socket & { exit: string };
    s.exit = this.name;
    return s;
  }
}

function session(user: string | null, params?: Record<string, string>, host = 'example.com'): Session {
  return {
    id: 1,
    inbound: 'h',
    user,
    source: { address: '127.0.0.1', port: 1 },
    dest: makeDestination(host, 80),
    command: 'http',
    ...(params ? { params } : {}),
  };
}

async function exitOf(pool: PoolOutbound, s: Session): Promise<string> {
  const sock = (await pool.dial(s.dest, {
    guard: ALLOW_ALL,
    connectTimeoutMs: 1000,
    session: s,
  })) as unknown as { exit: string };
  return sock.exit;
}

function makePool(over: Partial<PoolConfig> = {}, names = ['a', 'b', 'c', 'd']) {
  const exits = names.map((n) => new FakeExit(n));
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const pool = new PoolOutbound({
    name: 'p',
    members: exits.map((e, i) => ({
      outbound: e,
      tags: { region: i < 2 ? 'eu' : 'us', country: ['de', 'fr', 'us', 'us'][i]! },
    })),
    now: clock.now,
    ...over,
  });
  return { pool, exits, clock };
}

describe('pool outbound', () => {
  it('per-connection rotation: every dial takes the next member (round-robin)', async () => {
    const { pool } = makePool();
    const seen = [];
    for (let i = 0; i < 8; i++) seen.push(await exitOf(pool, session(null)));
    assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'a', 'b', 'c', 'd']);
    pool.close();
  });

  it('per-request rotation pins a fresh member per session, and the reuse key names it', async () => {
    const { pool } = makePool({ rotation: 'request' });
    const keys = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const s = session(null);
      pool.selectExit(s);
      assert.ok(s.exit);
      keys.add(reuseKey(pool, s));
      assert.equal(await exitOf(pool, s), s.exit, 'dial uses the selected member');
    }
    assert.deepEqual([...keys].sort(), ['p>a', 'p>b', 'p>c', 'p>d']);
    pool.close();
  });

  it('per-connection rotation: HTTP requests of one client connection share an exit, the next connection rotates', () => {
    const { pool } = makePool();
    const onConn = (port: number): Session => ({ ...session(null), source: { address: '127.0.0.1', port } });
    const first = onConn(40000);
    pool.selectExit(first);
    for (let i = 0; i < 3; i++) {
      const again = onConn(40000);
      pool.selectExit(again);
      assert.equal(again.exit, first.exit, 'keep-alive requests keep their exit');
    }
    const other = onConn(40001);
    pool.selectExit(other);
    assert.notEqual(other.exit, first.exit);
    // A tunnel or SOCKS session is a connection itself: its exit floats until dial().
    const tunnel: Session = { ...onConn(40002), command: 'connect' };
    pool.selectExit(tunnel);
    assert.equal(tunnel.exit, undefined);
    assert.equal(reuseKey(pool, tunnel), 'p');
    pool.close();
  });

  it('sticky sessions keep their member, per user, until idle for their sesstime', async () => {
    const { pool, clock } = makePool({ sesstimeUnitMs: 1000 });
    const p = { session: 's1', sesstime: '10' };
    const first = await exitOf(pool, session('alice', p));
    for (let i = 0; i < 5; i++) {
      clock.advance(9_000); // used again before it expires: the idle timer restarts
      assert.equal(await exitOf(pool, session('alice', p)), first);
    }
    // Another user with the same session id gets their own entry.
    const other = await exitOf(pool, session('bob', p));
    assert.equal(pool.state().stickySessions, 2);
    // Idle for the whole sesstime: a new choice (round-robin moves on, so it differs).
    clock.advance(10_000);
    const after = await exitOf(pool, session('alice', p));
    assert.notEqual(after, first);
    assert.ok(other);
    pool.close();
  });

  it('no session id means a new exit per connection, even for the same user', async () => {
    const { pool } = makePool();
    const a = await exitOf(pool, session('alice'));
    const b = await exitOf(pool, session('alice'));
    assert.notEqual(a, b);
    pool.close();
  });

  it('tag parameters select only matching members; no match is refused', async () => {
    const { pool } = makePool();
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await exitOf(pool, session('alice', { region: 'eu' })));
    assert.deepEqual([...seen].sort(), ['a', 'b']);
    assert.equal(await exitOf(pool, session('alice', { country: 'fr' })), 'b');
    await assert.rejects(
      exitOf(pool, session('alice', { country: 'jp' })),
      (e: FerryError) => e.code === 'E_POLICY_DENIED' && /country=jp/.test(e.message),
    );
    pool.close();
  });

  it('an exit fault fails over to another member; the dead one is ejected, then tried again', async () => {
    const { pool, exits, clock } = makePool({ health: { maxFails: 2, ejectMs: 5000 } });
    exits[1]!.broken = true;
    const seen = [];
    for (let i = 0; i < 8; i++) seen.push(await exitOf(pool, session(null)));
    assert.ok(!seen.includes('b'));
    assert.equal(pool.state().members[1]!.healthy, false);
    const before = exits[1]!.dials;
    for (let i = 0; i < 8; i++) await exitOf(pool, session(null));
    assert.equal(exits[1]!.dials, before, 'an ejected member gets no traffic');
    exits[1]!.broken = false;
    clock.advance(5000);
    const again = [];
    for (let i = 0; i < 8; i++) again.push(await exitOf(pool, session(null)));
    assert.ok(again.includes('b'), 'back after the ejection time');
    assert.equal(pool.state().members[1]!.healthy, true);
    pool.close();
  });

  it('a destination failure is not retried and does not count against the member', async () => {
    const { pool, exits } = makePool();
    for (const e of exits) e.destRefuses = true;
    await assert.rejects(exitOf(pool, session(null)), /destination refused/);
    assert.equal(
      exits.reduce((n, e) => n + e.dials, 0),
      1,
    );
    assert.ok(pool.state().members.every((m) => m.healthy && m.consecutiveFails === 0));
    pool.close();
  });

  it('retries are bounded, and the error says how many exits failed', async () => {
    const { pool, exits } = makePool({ maxAttempts: 2 });
    for (const e of exits) e.broken = true;
    await assert.rejects(exitOf(pool, session(null)), /2 exit\(s\) failed/);
    assert.equal(
      exits.reduce((n, e) => n + e.dials, 0),
      2,
    );
    pool.close();
  });

  it('a pinned session follows failover to the member that worked', async () => {
    const { pool, exits } = makePool({ rotation: 'request' });
    const s = session('alice', { session: 'k' });
    pool.selectExit(s);
    const pinned = s.exit!;
    exits.find((e) => e.name === pinned)!.broken = true;
    const used = await exitOf(pool, s);
    assert.notEqual(used, pinned);
    assert.equal(s.exit, used);
    // The sticky entry moved too.
    assert.equal(await exitOf(pool, session('alice', { session: 'k' })), used);
    pool.close();
  });

  it('interval rotation serves everyone from one member until the interval ends', async () => {
    const { pool, clock } = makePool({ rotation: 'interval', rotationIntervalMs: 60_000 });
    const first = await exitOf(pool, session(null));
    for (let i = 0; i < 5; i++) assert.equal(await exitOf(pool, session(null)), first);
    clock.advance(60_000);
    assert.notEqual(await exitOf(pool, session(null)), first);
    pool.close();
  });

  it('weighted: picks in proportion to weight, spread out', async () => {
    const exits = ['a', 'b', 'c'].map((n) => new FakeExit(n));
    const pool = new PoolOutbound({
      name: 'w',
      strategy: 'weighted',
      members: [
        { outbound: exits[0]!, weight: 5 },
        { outbound: exits[1]!, weight: 1 },
        { outbound: exits[2]!, weight: 1 },
      ],
    });
    const seq = [];
    for (let i = 0; i < 7; i++) seq.push(await exitOf(pool, session(null)));
    assert.equal(seq.filter((x) => x === 'a').length, 5);
    assert.notDeepEqual(seq.slice(0, 5), ['a', 'a', 'a', 'a', 'a'], 'smooth, not bursty');
    pool.close();
  });

  it('hash of destination: a host keeps its member; removing a member moves only its hosts', async () => {
    const { pool } = makePool({ strategy: 'hash' });
    const hosts = Array.from({ length: 200 }, (_, i) => `h${i}.example`);
    const where = new Map<string, string>();
    for (const h of hosts) where.set(h, await exitOf(pool, session(null, undefined, h)));
    for (const h of hosts.slice(0, 20))
      assert.equal(await exitOf(pool, session(null, undefined, h)), where.get(h));
    assert.ok(new Set(where.values()).size === 4, 'all members get hosts');
    const { pool: three } = makePool({ strategy: 'hash' }, ['a', 'b', 'c']);
    for (const h of hosts) {
      const now = await exitOf(three, session(null, undefined, h));
      if (where.get(h) !== 'd') assert.equal(now, where.get(h), `${h} moved although its member stayed`);
    }
    pool.close();
    three.close();
  });

  it('least-connections prefers the member with fewest open connections', async () => {
    const { pool } = makePool({ strategy: 'least-connections' }, ['a', 'b']);
    const s1 = (await pool.dial(makeDestination('x', 1), {
      guard: ALLOW_ALL,
      connectTimeoutMs: 1000,
      session: session(null),
    })) as unknown as EventEmitter & { exit: string };
    // a holds one connection: the next ones go to b while it is open.
    assert.equal(await exitOf(pool, session(null)), s1.exit === 'a' ? 'b' : 'a');
    s1.emit('close');
    assert.equal(pool.state().members.find((m) => m.name === s1.exit)!.active, 0);
    pool.close();
  });

  it("a member never sees the pool's pin in Session.exit (it would read it as its own)", async () => {
    const { pool, exits } = makePool({ rotation: 'request' });
    const s = session('alice');
    pool.selectExit(s);
    assert.ok(s.exit !== undefined);
    const used = await exitOf(pool, s);
    assert.equal(exits.find((e) => e.name === used)!.sawExit, undefined);
    assert.equal(s.exit, used); // the caller's session keeps the pin
    pool.close();
  });

  it('coordinated (cluster workers): two pools agree on every sticky session, whatever their history', async () => {
    const one = makePool({ coordinated: true });
    const two = makePool({ coordinated: true });
    // Different histories: the second pool has served other sessions first.
    for (let i = 0; i < 7; i++) await exitOf(two.pool, session('bob', { session: `other${i}` }));
    const chosen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const params = { session: `s${i}` };
      const a = await exitOf(one.pool, session('alice', params));
      assert.equal(await exitOf(two.pool, session('alice', params)), a, `session s${i}`);
      chosen.add(a);
    }
    // Still a spread over the members, not one exit for everybody.
    assert.equal(chosen.size, 4, [...chosen].join(' '));
    // A member that dies moves only its own sessions, identically in both.
    one.exits[0]!.broken = true;
    two.exits[0]!.broken = true;
    for (let i = 0; i < 40; i++) {
      const params = { session: `t${i}` };
      assert.equal(
        await exitOf(one.pool, session('carol', params)),
        await exitOf(two.pool, session('carol', params)),
      );
    }
    one.pool.close();
    two.pool.close();
  });

  it('coordinated interval rotation: pools agree within an interval and move on at its end', async () => {
    const one = makePool({ coordinated: true, rotation: 'interval', rotationIntervalMs: 60_000 });
    const two = makePool({ coordinated: true, rotation: 'interval', rotationIntervalMs: 60_000 });
    const seen = new Set<string>();
    for (let k = 0; k < 12; k++) {
      const a = await exitOf(one.pool, session(null));
      for (let i = 0; i < 3; i++) {
        assert.equal(await exitOf(one.pool, session(null)), a);
        assert.equal(await exitOf(two.pool, session(null)), a);
      }
      seen.add(a);
      one.clock.advance(60_000);
      two.clock.advance(60_000);
    }
    assert.ok(seen.size >= 2, `twelve intervals, one exit: ${[...seen].join(' ')}`);
    one.pool.close();
    two.pool.close();
  });
});
