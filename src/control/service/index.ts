// The control service: every management operation, shared by the CLI (LocalClient) and the REST
// API. `as(principal)` binds the caller; each operation checks the caller's scopes, validates its
// input (schemas.ts), runs in one store transaction and records an audit event.
import { FerryError } from '../../core/errors.js';
import type { ControlApi } from '../client.js';
import type { Store } from '../store/types.js';
import { listAudit } from './audit.js';
import { Ctx, type ServiceOptions } from './context.js';
import { addCredential, listCredentials, removeCredential, rotateCredential } from './credentials.js';
import { addPeer, listPeers, removePeer, rotatePeer } from './peers.js';
import { effectiveScopes, type Principal } from './principal.js';
import { exportUser, forgetUser } from './privacy.js';
import { hashToken, TOKEN_PATTERN } from './secrets.js';
import { createTier, listTiers, removeTier, showTier, updateTier } from './tiers.js';
import { createToken, listTokens, revokeToken } from './tokens.js';
import { usage } from './usage.js';
import { getShadowsocksKey, rotateShadowsocksKey } from './shadowsocks-keys.js';
import { addUser, listUsers, passwd, removeUser, setLoginPassword, showUser, updateUser } from './users.js';

/** lastUsedAt is written at most this often per token: an API call should not always be a write. */
const TOUCH_INTERVAL_MS = 60_000;

export class ControlService {
  constructor(
    readonly store: Store,
    private readonly opts: ServiceOptions = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** The operations, as `principal`. */
  as(principal: Principal): ControlApi {
    const c = new Ctx(this.store, principal, this.opts);
    return {
      users: {
        add: (i) => addUser(c, i),
        list: () => listUsers(c),
        show: (n) => showUser(c, n),
        update: (n, p) => updateUser(c, n, p),
        disable: (n) => updateUser(c, n, { enabled: false }, 'user.disable'),
        enable: (n) => updateUser(c, n, { enabled: true }, 'user.enable'),
        remove: (n) => removeUser(c, n),
        passwd: (n, i) => passwd(c, n, i),
        setLoginPassword: (n, i) => setLoginPassword(c, n, i),
        export: (n) => exportUser(c, n),
        forget: (n) => forgetUser(c, n),
        shadowsocksKey: (n) => getShadowsocksKey(c, n),
        rotateShadowsocksKey: (n) => rotateShadowsocksKey(c, n),
      },
      credentials: {
        add: (i) => addCredential(c, i),
        list: (u) => listCredentials(c, u),
        rotate: (n, i) => rotateCredential(c, n, i),
        remove: (n) => removeCredential(c, n),
      },
      tokens: {
        create: (i) => createToken(c, i),
        list: (u) => listTokens(c, u),
        revoke: (id) => revokeToken(c, id),
      },
      tiers: {
        create: (i) => createTier(c, i),
        list: () => listTiers(c),
        show: (n) => showTier(c, n),
        update: (n, p) => updateTier(c, n, p),
        remove: (n) => removeTier(c, n),
      },
      peers: {
        add: (i) => addPeer(c, i),
        list: (u) => listPeers(c, u),
        remove: (u, d) => removePeer(c, u, d),
        rotate: (u, d, i) => rotatePeer(c, u, d, i),
      },
      usage: { report: (u) => usage(c, u) },
      audit: { list: (i) => listAudit(c, i) },
    };
  }

  /**
   * The principal for a bearer token, or E_AUTH. Refuses malformed, unknown and expired tokens and
   * tokens of disabled or expired users; the scopes are cut to what the user's role allows now.
   * The messages do not say which check failed beyond "expired", so they leak nothing to a guesser.
   */
  async authenticateToken(secret: string): Promise<Principal> {
    if (!TOKEN_PATTERN.test(secret)) throw new FerryError('E_AUTH', 'invalid token');
    const t = await this.store.findTokenByHash(hashToken(secret));
    if (!t) throw new FerryError('E_AUTH', 'invalid token');
    const now = this.now();
    if (t.expiresAt !== null && t.expiresAt <= now) throw new FerryError('E_AUTH', 'token expired');
    const u = await this.store.getUser(t.userId);
    if (!u || !u.enabled || (u.expiresAt !== null && u.expiresAt <= now))
      throw new FerryError('E_AUTH', 'invalid token');
    if (t.lastUsedAt === null || now - t.lastUsedAt >= TOUCH_INTERVAL_MS)
      await this.store.touchToken(t.id, now);
    return { name: u.name, user: u.name, scopes: effectiveScopes(t.scopes, u.role) };
  }
}

export type { Principal } from './principal.js';
export type { ServiceOptions } from './context.js';
