// WireGuard peers (devices) of a user. Provisioning (keys, addresses, config files) belongs to the
// VPN side; this records them and enforces the tier's device cap.
import { FerryError } from '../../core/errors.js';
import type { Ctx } from './context.js';
import { canSeeAll, requireRead, requireReadOf, requireWriteOf } from './principal.js';
import {
  parseInput,
  peerAddSchema,
  peerRotateSchema,
  tierNameSchema,
  type PeerAddInput,
  type PeerRotateInput,
} from './schemas.js';
import { AddressPool, canonicalAddress } from '../../vpn/pool.js';
import type { Store } from '../store/types.js';
import { userName } from './users.js';
import { peerView, type PeerView } from './views.js';

export async function addPeer(ctx: Ctx, input: PeerAddInput): Promise<PeerView> {
  const i = parseInput(peerAddSchema, input, 'peer add');
  requireWriteOf(ctx.principal, i.user, 'add devices for this user');
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(i.user, tx);
    const tier = u.tierId === null ? null : await tx.getTier(u.tierId);
    const existing = await tx.listPeers(u.id);
    if (tier?.maxDevices != null && existing.length >= tier.maxDevices)
      throw new FerryError(
        'E_CONFLICT',
        `tier '${tier.name}' allows ${tier.maxDevices} device(s); remove one first`,
      );
    if (existing.some((p) => p.name === i.name))
      throw new FerryError('E_CONFLICT', `device '${i.name}' exists`);
    const all = await tx.listPeers();
    await checkKeyFree(tx, i.publicKey);
    let v4 = i.addressV4 ? canonicalAddress(i.addressV4) : null;
    let v6 = i.addressV6 ? canonicalAddress(i.addressV6) : null;
    const taken = new Set(all.flatMap((p) => [p.addressV4, p.addressV6]).filter((a) => a !== null));
    for (const a of [v4, v6])
      if (a !== null && taken.has(a))
        throw new FerryError('E_CONFLICT', `address ${a} belongs to another device`);
    // Allocation reads the taken addresses and inserts in one transaction (on SQLite one that holds
    // the write lock from its start), so two concurrent `peer add` never get the same address.
    const pool = i.allocate;
    if (pool && ((pool.v4 && v4 === null) || (pool.v6 && v6 === null))) {
      let next;
      try {
        next = new AddressPool(pool.v4 ?? null, pool.v6 ?? null).allocate(taken);
      } catch (e) {
        throw new FerryError('E_CONFLICT', (e as Error).message);
      }
      v4 ??= next.v4;
      v6 ??= next.v6;
    }
    const p = await tx.createPeer({
      userId: u.id,
      name: i.name,
      publicKey: i.publicKey,
      presharedKey: i.presharedKey ?? null,
      addressV4: v4,
      addressV6: v6,
    });
    await ctx.audit(tx, 'peer.add', u.name, { device: p.name, publicKey: p.publicKey });
    return peerView(p, u.name);
  });
}

export async function listPeers(ctx: Ctx, user?: string): Promise<PeerView[]> {
  if (user === undefined && !canSeeAll(ctx.principal)) {
    if (ctx.principal.user === null) requireRead(ctx.principal, 'list devices');
    user = ctx.principal.user!;
  }
  if (user !== undefined) {
    const name = userName(user);
    requireReadOf(ctx.principal, name, "list this user's devices");
    const u = await ctx.user(name);
    return (await ctx.store.listPeers(u.id)).map((p) => peerView(p, name));
  }
  const names = new Map((await ctx.store.listUsers()).map((u) => [u.id, u.name]));
  return (await ctx.store.listPeers()).map((p) => peerView(p, names.get(p.userId) ?? '?'));
}

export async function removePeer(ctx: Ctx, user: string, device: string): Promise<void> {
  user = userName(user);
  device = parseInput(tierNameSchema, device, 'device name');
  requireWriteOf(ctx.principal, user, "remove this user's devices");
  await ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(user, tx);
    const p = (await tx.listPeers(u.id)).find((x) => x.name === device);
    if (!p) throw new FerryError('E_NOT_FOUND', `user '${user}' has no device '${device}'`);
    await tx.deletePeer(p.id);
    await ctx.audit(tx, 'peer.remove', user, { device, publicKey: p.publicKey });
  });
}

/** A key may belong to one device only: the WireGuard device identifies peers by it. */
async function checkKeyFree(tx: Store, publicKey: string, except?: number): Promise<void> {
  if ((await tx.listPeers()).some((p) => p.publicKey === publicKey && p.id !== except))
    throw new FerryError('E_CONFLICT', 'this public key belongs to another device');
}

/** Replaces a device's keys (a lost or leaked device key); its addresses stay. */
export async function rotatePeer(
  ctx: Ctx,
  user: string,
  device: string,
  input: PeerRotateInput,
): Promise<PeerView> {
  user = userName(user);
  device = parseInput(tierNameSchema, device, 'device name');
  const i = parseInput(peerRotateSchema, input, 'peer rotate');
  requireWriteOf(ctx.principal, user, "rotate this user's device keys");
  return ctx.store.transaction(async (tx) => {
    const u = await ctx.mutableUser(user, tx);
    const p = (await tx.listPeers(u.id)).find((x) => x.name === device);
    if (!p) throw new FerryError('E_NOT_FOUND', `user '${user}' has no device '${device}'`);
    await checkKeyFree(tx, i.publicKey, p.id);
    const updated = await tx.updatePeer(p.id, {
      publicKey: i.publicKey,
      presharedKey: i.presharedKey ?? null,
    });
    await ctx.audit(tx, 'peer.rotate', user, { device, publicKey: updated.publicKey });
    return peerView(updated, user);
  });
}
