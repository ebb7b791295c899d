// What every operation needs: the store, the caller, the clock, the names the config file owns,
// and the audit writer. Audit details describe the change (role, tier, scopes, credential names),
// never a secret.
import { hashPassword } from '../../auth/password-hash.js';
import { FerryError } from '../../core/errors.js';
import type { Store, Tier, User } from '../store/types.js';
import type { Principal } from './principal.js';

export interface ServiceOptions {
  now?: () => number;
  /**
   * User names defined in the configuration file (users:). They are read-only overrides the gateway
   * lays over the store's users, so the service refuses to create or change them.
   */
  configUsers?: Iterable<string>;
  /** Password hashing (default scrypt from auth/password-hash). */
  hashPassword?: (password: string) => Promise<string>;
}

export class Ctx {
  readonly now: () => number;
  readonly configUsers: ReadonlySet<string>;
  readonly hash: (password: string) => Promise<string>;

  constructor(
    readonly store: Store,
    readonly principal: Principal,
    opts: ServiceOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.configUsers = new Set(opts.configUsers ?? []);
    this.hash = opts.hashPassword ?? ((p) => hashPassword(p));
  }

  async audit(
    tx: Store,
    action: string,
    target: string | null,
    details: Record<string, unknown> | null = null,
  ): Promise<void> {
    await tx.addAuditEvent({ at: this.now(), actor: this.principal.name, action, target, details });
  }

  /** Refuses a name the configuration file defines (as a user or a login). */
  assertNotConfig(name: string): void {
    if (this.configUsers.has(name))
      throw new FerryError(
        'E_CONFLICT',
        `user '${name}' is defined in the configuration file (users:); change it there, not through the store`,
      );
  }

  async user(name: string, tx: Store = this.store): Promise<User> {
    const u = await tx.getUser(name);
    if (u) return u;
    if (this.configUsers.has(name)) this.assertNotConfig(name);
    throw new FerryError('E_NOT_FOUND', `no user '${name}'`);
  }

  /** A user the caller is about to change: exists in the store and is not a config override. */
  async mutableUser(name: string, tx: Store = this.store): Promise<User> {
    this.assertNotConfig(name);
    return this.user(name, tx);
  }

  async tier(name: string, tx: Store = this.store): Promise<Tier> {
    const t = await tx.getTier(name);
    if (!t) throw new FerryError('E_NOT_FOUND', `no tier '${name}'`);
    return t;
  }

  async tierName(id: number | null, tx: Store = this.store): Promise<string | null> {
    return id === null ? null : ((await tx.getTier(id))?.name ?? null);
  }
}
