// Keeps the WireGuard device's peers equal to the store's: every device of every user who may use
// the service (enabled, not expired, tier not expired), with its tunnel addresses as allowed IPs.
// Changes go through the sans-IO device one peer at a time, so the interface, its sockets and the
// other peers' sessions are untouched: a removed peer loses its sessions at once (its packets no
// longer decrypt), an added one can handshake at once.
import type { PeerConfig } from '../wireguard/device.js';
import { decodeKey } from '../wireguard/io/wg-config.js';
import type { Store } from '../control/store/types.js';

export interface DesiredPeer {
  /** base64 */
  publicKey: string;
  presharedKey: string | null;
  /** Host routes of the device's tunnel addresses (/32, /128). */
  allowedIps: string[];
  /** For log lines: "user/device". */
  label: string;
}

export interface DesiredState {
  peers: DesiredPeer[];
  /** The earliest future expiry (ms) that will remove peers, so the poller reloads then. */
  nextExpiry: number | null;
}

export async function loadDesiredPeers(store: Store, now = Date.now()): Promise<DesiredState> {
  const tiers = new Map((await store.listTiers()).map((t) => [t.id, t]));
  const users = new Map((await store.listUsers()).map((u) => [u.id, u]));
  let nextExpiry: number | null = null;
  const soonest = (t: number | null): void => {
    if (t !== null && t > now && (nextExpiry === null || t < nextExpiry)) nextExpiry = t;
  };
  const peers: DesiredPeer[] = [];
  for (const p of await store.listPeers()) {
    const u = users.get(p.userId);
    if (!u || !u.enabled) continue;
    const tierExpiry = u.tierId === null ? null : (tiers.get(u.tierId)?.expiresAt ?? null);
    if ((u.expiresAt !== null && u.expiresAt <= now) || (tierExpiry !== null && tierExpiry <= now)) continue;
    soonest(u.expiresAt);
    soonest(tierExpiry);
    const allowedIps: string[] = [];
    if (p.addressV4) allowedIps.push(`${p.addressV4}/32`);
    if (p.addressV6) allowedIps.push(`${p.addressV6}/128`);
    peers.push({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey,
      allowedIps,
      label: `${u.name}/${p.name}`,
    });
  }
  return { peers, nextExpiry };
}

/** The part of the device the installer drives. */
export interface PeerTarget {
  upsertPeer(cfg: PeerConfig): void;
  removePeer(publicKey: Uint8Array): void;
}

export interface SyncResult {
  added: string[];
  updated: string[];
  removed: string[];
  errors: string[];
}

interface Installed {
  presharedKey: string | null;
  allowedIps: string;
  label: string;
}

/**
 * Applies desired states to a device, changing only what differs from the last state applied.
 * Peers configured by other means (wg set through the UAPI socket) are left alone unless the store
 * names the same key.
 */
export class PeerInstaller {
  private readonly installed = new Map<string, Installed>();

  constructor(private readonly target: PeerTarget) {}

  get size(): number {
    return this.installed.size;
  }

  apply(desired: DesiredPeer[]): SyncResult {
    const res: SyncResult = { added: [], updated: [], removed: [], errors: [] };
    const want = new Map(desired.map((d) => [d.publicKey, d]));
    for (const [key, inst] of this.installed) {
      if (want.has(key)) continue;
      try {
        this.target.removePeer(decodeKey(key));
      } catch (e) {
        res.errors.push(`${inst.label}: ${(e as Error).message}`);
      }
      this.installed.delete(key);
      res.removed.push(inst.label);
    }
    for (const d of desired) {
      const ips = d.allowedIps.join(',');
      const inst = this.installed.get(d.publicKey);
      if (inst && inst.presharedKey === d.presharedKey && inst.allowedIps === ips) continue;
      try {
        this.target.upsertPeer({
          publicKey: decodeKey(d.publicKey),
          presharedKey: d.presharedKey === null ? null : decodeKey(d.presharedKey),
          allowedIps: d.allowedIps,
        });
      } catch (e) {
        res.errors.push(`${d.label}: ${(e as Error).message}`);
        continue;
      }
      this.installed.set(d.publicKey, { presharedKey: d.presharedKey, allowedIps: ips, label: d.label });
      (inst ? res.updated : res.added).push(d.label);
    }
    return res;
  }
}
