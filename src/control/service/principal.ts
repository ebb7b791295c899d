// Who is calling the service, and what they may do. The local CLI is an administrator (whoever can
// write the data directory owns the store anyway); REST callers carry a token whose scopes are cut
// down to what the token's user may hold today (a demoted admin's old admin token acts as "self").
//
//   admin — everything.   read — every read (lists, usage, audit), no writes, no exports.
//   self  — the token user's own record: show, usage, proxy credentials, own self-tokens, export.
import { FerryError } from '../../core/errors.js';
import type { Role, TokenScope } from '../store/types.js';

export interface Principal {
  /** Recorded as the audit actor: "local:<os user>" or the token's user name. */
  readonly name: string;
  /** The token's user; null for the local CLI. */
  readonly user: string | null;
  readonly scopes: ReadonlySet<TokenScope>;
}

export function localPrincipal(osUser: string): Principal {
  return { name: `local:${osUser}`, user: null, scopes: new Set(['admin']) };
}

/** What a token with `scopes` may do for a user whose role is `role` now. */
export function effectiveScopes(scopes: readonly TokenScope[], role: Role): Set<TokenScope> {
  return new Set(scopes.filter((s) => s === 'self' || role === 'admin'));
}

/** Which scopes a user of `role` may be given a token for. */
export function grantable(role: Role): TokenScope[] {
  return role === 'admin' ? ['admin', 'read', 'self'] : ['self'];
}

const forbidden = (what: string) => new FerryError('E_FORBIDDEN', `not allowed: ${what}`);

export function requireAdmin(p: Principal, what: string): void {
  if (!p.scopes.has('admin')) throw forbidden(what);
}

export function requireRead(p: Principal, what: string): void {
  if (!p.scopes.has('admin') && !p.scopes.has('read')) throw forbidden(what);
}

/** Reading `user`'s own data: admin, read, or self on oneself. */
export function requireReadOf(p: Principal, user: string, what: string): void {
  if (p.scopes.has('admin') || p.scopes.has('read')) return;
  if (p.scopes.has('self') && p.user === user) return;
  throw forbidden(what);
}

/** Changing `user`'s own credentials/tokens: admin, or self on oneself. */
export function requireWriteOf(p: Principal, user: string, what: string): void {
  if (p.scopes.has('admin')) return;
  if (p.scopes.has('self') && p.user === user) return;
  throw forbidden(what);
}

/** Listing across users: only admin/read see everyone; self sees only itself. */
export function canSeeAll(p: Principal): boolean {
  return p.scopes.has('admin') || p.scopes.has('read');
}
