// Where the Shadowsocks inbound gets its keys. Today a KeySource reads the inbound's `method` and
// `password` and the users' `ss_password` from the configuration; the management-plane store will be
// another KeySource. The derived table is cached and rebuilt only when the source's objects change
// (a reload replaces them), because EVP_BytesToKey / base64 decoding per connection would be waste.
import { FerryError } from '../../core/errors.js';
import { buildKeyTable, type ServerKeyTable, type UserKey } from '../../crypto/ss/keys.js';
import { methodInfo, serverKey } from '../../crypto/ss/methods.js';
import { userSecretFor } from '../../share/ss-user-key.js';

export interface SsInboundSettings {
  name: string;
  method: string;
  /** AEAD: the shared password (optional when users have their own). 2022: the server PSK (base64). */
  password?: string | undefined;
}

export interface SsUserEntry {
  name: string;
  /** AEAD: the user's password; 2022: the user's PSK (base64, the method's key size). */
  ss_password?: string | undefined;
  /** A store user's method-independent key (share/ss-user-key.ts); ss_password wins when both. */
  ss_key?: string | undefined;
  enabled?: boolean;
}

export interface KeySource {
  inbound(): SsInboundSettings;
  users(): readonly SsUserEntry[];
  /**
   * Users come from the store too, so an AEAD inbound without a shared password may start with no
   * user keys yet (it then refuses every connection until users get keys).
   */
  storeUsers?: boolean;
}

/** Validates settings and derives the key table; throws E_CONFIG with a message for the operator. */
export function deriveKeyTable(
  s: SsInboundSettings,
  users: readonly SsUserEntry[],
  storeUsers = false,
): ServerKeyTable {
  const method = methodInfo(s.method);
  const userKeys: UserKey[] = [];
  for (const u of users) {
    if (u.enabled === false) continue;
    const secret = u.ss_password ?? (u.ss_key !== undefined ? userSecretFor(method, u.ss_key) : undefined);
    if (secret === undefined) continue;
    userKeys.push({ user: u.name, key: serverKey(method, secret, `Shadowsocks key of user ${u.name}`) });
  }
  const inboundKey =
    s.password !== undefined
      ? { user: null, key: serverKey(method, s.password, `password of inbound ${s.name}`) }
      : null;
  if (method.edition === '2022' && !inboundKey) {
    throw new FerryError(
      'E_CONFIG',
      `inbound ${s.name}: ${method.name} needs a password (the server key, base64)`,
    );
  }
  if (method.edition === 'aead' && !inboundKey && userKeys.length === 0 && !storeUsers) {
    throw new FerryError('E_CONFIG', `inbound ${s.name}: set a password, or give users an ss_password`);
  }
  if (method.edition === '2022' && userKeys.length > 0 && method.algorithm === 'chacha20-poly1305') {
    throw new FerryError(
      'E_CONFIG',
      `inbound ${s.name}: several users on one port (identity headers) need a 2022 AES method`,
    );
  }
  return buildKeyTable(method, inboundKey, userKeys);
}

/** Caches the table while the settings' values and the users array stay the same. */
export class KeyTableCache {
  private lastSettings: SsInboundSettings | null = null;
  private lastUsers: readonly SsUserEntry[] | null = null;
  private table: ServerKeyTable | null = null;

  constructor(
    private readonly source: KeySource,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /**
   * The current table. A reload with a bad key keeps the previous table (reported once through
   * onError) rather than locking every user out; the first call throws, so startup fails loudly.
   */
  get(): ServerKeyTable {
    const s = this.source.inbound();
    const u = this.source.users();
    const last = this.lastSettings;
    const same =
      last !== null && s.name === last.name && s.method === last.method && s.password === last.password;
    if (this.table && same && u === this.lastUsers) return this.table;
    try {
      this.table = deriveKeyTable(s, u, this.source.storeUsers === true);
    } catch (e) {
      if (!this.table) throw e;
      this.onError(e as Error);
    }
    this.lastSettings = s;
    this.lastUsers = u;
    return this.table;
  }
}
