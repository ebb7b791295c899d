// Store → WireGuard device: the peers a VPN server installs follow the store (users enabled and not
// expired, tier not expired; their devices' keys and addresses), applied to a real sans-IO Device,
// with address allocation and key rotation through the control service.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../../src/control/store/sqlite.js';
import { ControlService } from '../../../src/control/service/index.js';
import { localPrincipal } from '../../../src/control/service/principal.js';
import { hashPassword } from '../../../src/auth/password-hash.js';
import { FerryError } from '../../../src/core/errors.js';
import type { Store } from '../../../src/control/store/types.js';
import type { ControlApi } from '../../../src/control/client.js';
import { Device } from '../../../src/wireguard/device.js';
import { encodeKey } from '../../../src/wireguard/io/wg-config.js';
import { generatePresharedKey, generatePrivateKey, publicKeyOf } from '../../../src/wireguard/io/keys.js';
import { loadDesiredPeers, PeerInstaller } from '../../../src/vpn/peer-sync.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-peersync-'));
let store: Store;
let admin: ControlApi;
let clock = Date.parse('2030-01-01T00:00:00Z');
const pool = { v4: '10.66.0.0/24', v6: 'fd66:1::/64' };
const newKey = (): string => encodeKey(publicKeyOf(generatePrivateKey()));

function device(): Device {
  const d = new Device({ out: { sendUdp: () => {}, writeTun: () => {} } });
  d.setPrivateKey(generatePrivateKey());
  return d;
}

/** The device's peers as "allowed IPs" strings keyed by base64 public key. */
function peersOf(d: Device): Map<string, string> {
  return new Map(d.peerStatus().map((p) => [encodeKey(p.publicKey), p.allowedIps.join(',')]));
}

before(async () => {
  store = await openSqliteStore(join(dir, 'ferry.db'));
  const service = new ControlService(store, {
    now: () => clock,
    configUsers: [],
    hashPassword: (p: string) => hashPassword(p, { logN: 10, r: 8, p: 1 }),
  });
  admin = service.as(localPrincipal('tester'));
});
after(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('peer allocation in the control service', () => {
  it('allocates the next free addresses in the add transaction and refuses duplicates', async () => {
    await admin.users.add({ name: 'alice' });
    await admin.users.add({ name: 'bob' });
    const a = await admin.peers.add({ user: 'alice', name: 'phone', publicKey: newKey(), allocate: pool });
    const b = await admin.peers.add({ user: 'bob', name: 'laptop', publicKey: newKey(), allocate: pool });
    assert.deepEqual([a.addressV4, a.addressV6], ['10.66.0.2', 'fd66:1::2']);
    assert.deepEqual([b.addressV4, b.addressV6], ['10.66.0.3', 'fd66:1::3']);
    // An explicit address wins over allocation and must be free.
    const c = await admin.peers.add({
      user: 'bob',
      name: 'tablet',
      publicKey: newKey(),
      addressV4: '10.66.0.9',
      allocate: pool,
    });
    assert.deepEqual([c.addressV4, c.addressV6], ['10.66.0.9', 'fd66:1::4']);
    await assert.rejects(
      admin.peers.add({ user: 'bob', name: 'x', publicKey: newKey(), addressV4: '10.66.0.2' }),
      (e: unknown) => e instanceof FerryError && e.code === 'E_CONFLICT' && /10\.66\.0\.2/.test(e.message),
    );
    await assert.rejects(
      admin.peers.add({ user: 'bob', name: 'y', publicKey: a.publicKey, allocate: pool }),
      (e: unknown) => e instanceof FerryError && e.code === 'E_CONFLICT' && /public key/.test(e.message),
    );
    await admin.peers.remove('bob', 'tablet');
  });

  it('reports a full pool as a conflict', async () => {
    // /30: index 1 is the server, index 2 the only device address, index 3 the broadcast address.
    const one = await admin.peers.add({
      user: 'alice',
      name: 'only',
      publicKey: newKey(),
      allocate: { v4: '10.77.0.0/30' },
    });
    assert.equal(one.addressV4, '10.77.0.2');
    await assert.rejects(
      admin.peers.add({ user: 'alice', name: 'z', publicKey: newKey(), allocate: { v4: '10.77.0.0/30' } }),
      (e: unknown) => e instanceof FerryError && e.code === 'E_CONFLICT' && /is full/.test(e.message),
    );
    await admin.peers.remove('alice', 'only');
  });
});

describe('store → device', () => {
  it('installs every device of usable users, follows rotation, disabling and expiry, and leaves the rest alone', async () => {
    const dev = device();
    // A peer configured by hand (wg set) that the store does not know: never touched.
    const manual = generatePrivateKey();
    dev.upsertPeer({ publicKey: publicKeyOf(manual), allowedIps: ['10.99.0.1/32'] });
    const inst = new PeerInstaller(dev);
    const sync = async () => inst.apply((await loadDesiredPeers(store, clock)).peers);

    const r1 = await sync();
    assert.deepEqual(r1.added.sort(), ['alice/phone', 'bob/laptop']);
    const [phone] = await admin.peers.list('alice');
    const [laptop] = await admin.peers.list('bob');
    assert.equal(peersOf(dev).get(phone!.publicKey), '10.66.0.2/32,fd66:1::2/128');
    assert.equal(peersOf(dev).get(laptop!.publicKey), '10.66.0.3/32,fd66:1::3/128');
    assert.equal(peersOf(dev).size, 3);

    // Nothing changed: nothing is touched (sessions of live peers survive a poll).
    const r2 = await sync();
    assert.deepEqual([r2.added, r2.updated, r2.removed], [[], [], []]);

    // Rotation: the old key goes, the new one gets the same addresses.
    const rotated = await admin.peers.rotate('alice', 'phone', {
      publicKey: newKey(),
      presharedKey: encodeKey(generatePresharedKey()),
    });
    assert.equal(rotated.addressV4, '10.66.0.2');
    const r3 = await sync();
    assert.deepEqual([r3.added, r3.removed], [['alice/phone'], ['alice/phone']]);
    assert.equal(peersOf(dev).has(phone!.publicKey), false);
    assert.equal(peersOf(dev).get(rotated.publicKey), '10.66.0.2/32,fd66:1::2/128');
    assert.ok(dev.peerStatus().find((p) => encodeKey(p.publicKey) === rotated.publicKey)!.presharedKey);

    // A disabled user's devices are removed; enabling brings them back.
    await admin.users.disable('bob');
    assert.deepEqual((await sync()).removed, ['bob/laptop']);
    assert.equal(peersOf(dev).has(laptop!.publicKey), false);
    await admin.users.enable('bob');
    assert.deepEqual((await sync()).added, ['bob/laptop']);

    // Expiry: the desired state names the moment, and past it the devices go.
    await admin.users.update('alice', { expires: '1d' });
    const desired = await loadDesiredPeers(store, clock);
    assert.equal(desired.nextExpiry, clock + 86_400_000);
    clock += 86_400_000;
    assert.deepEqual((await sync()).removed, ['alice/phone']);

    // Removed from the store: removed from the device; the hand-made peer is still there.
    await admin.peers.remove('bob', 'laptop');
    assert.deepEqual((await sync()).removed, ['bob/laptop']);
    assert.deepEqual([...peersOf(dev).keys()], [encodeKey(publicKeyOf(manual))]);
  });
});
