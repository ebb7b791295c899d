// Exit parameters carried in the login name, in the convention proxy providers use:
//
//   alice-country-us-session-abc123-sesstime-10
//
// is user "alice" asking for an exit tagged country=us, kept for session "abc123" (sticky) for 10
// units of idle time (minutes by default). HTTP (Proxy-Authorization) and SOCKS5 (RFC 1929) user
// names are parsed alike, so both inbounds select exits the same way.
//
// The user name is everything before the first "-<key>-" from which the rest of the name parses as
// key/value pairs of known keys; "bob-smith-country-de" is user "bob-smith". Configured user names
// that would themselves parse this way are refused by the config schema (see isReservedLogin).

/** Keys that filter pool members by their tags (a member matches when its tag has this value). */
export const TAG_KEYS: ReadonlySet<string> = new Set(['country', 'region', 'city', 'state', 'provider']);
/** Keys that control stickiness. */
export const SESSION_KEY = 'session';
export const SESSTIME_KEY = 'sesstime';

const KEYS: ReadonlySet<string> = new Set([...TAG_KEYS, SESSION_KEY, SESSTIME_KEY]);
/** Values: tag values and session ids are short tokens (no "-", which separates the pairs). */
const VALUE = /^[A-Za-z0-9_.]{1,64}$/;
const SESSTIME = /^[1-9][0-9]{0,5}$/;

export type LoginParams = Readonly<Record<string, string>>;

export interface ParsedLogin {
  user: string;
  params: LoginParams;
}

/** Splits a login name into user and parameters; null when it carries no parameters. */
export function parseLogin(login: string): ParsedLogin | null {
  if (login.indexOf('-') < 0) return null;
  const parts = login.split('-');
  for (let i = 1; i < parts.length - 1; i++) {
    if (!KEYS.has(parts[i]!.toLowerCase()) || (parts.length - i) % 2 !== 0) continue;
    const user = parts.slice(0, i).join('-');
    const params = user.length > 0 ? parsePairs(parts, i) : null;
    if (params !== null) return { user, params };
  }
  return null;
}

function parsePairs(parts: string[], from: number): Record<string, string> | null {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let j = from; j < parts.length; j += 2) {
    const k = parts[j]!.toLowerCase();
    const v = parts[j + 1]!;
    if (!KEYS.has(k) || k in out || !VALUE.test(v)) return null;
    if (k === SESSTIME_KEY && !SESSTIME.test(v)) return null;
    // Tag values compare case-insensitively ("US" = "us"); session ids are opaque and kept as sent.
    out[k] = k === SESSION_KEY ? v : v.toLowerCase();
  }
  return out;
}

/** The tag filters of a parameter set (country, region, ...), or null when there are none. */
export function tagFilter(params: LoginParams | undefined): Record<string, string> | null {
  if (params === undefined) return null;
  let out: Record<string, string> | null = null;
  for (const k of TAG_KEYS) {
    const v = params[k];
    if (v !== undefined) (out ??= {})[k] = v;
  }
  return out;
}

/**
 * Moves login parameters out of session.user into session.params (idempotent). Inbounds store the
 * login the Authenticator returned; this runs before the session is routed, so rules and per-user
 * limits see the plain user name.
 */
export function applyLoginParams(session: { user: string | null; params?: LoginParams }): void {
  if (session.user === null || session.params !== undefined) return;
  const p = parseLogin(session.user);
  if (p === null) return;
  session.user = p.user;
  session.params = p.params;
}

/** True when a configured user name would be read as a login with parameters (and so is refused). */
export function isReservedLogin(name: string): boolean {
  return parseLogin(name) !== null;
}
