// Users from the configuration: plain-text passwords (allowed for quick starts and the --user flag)
// are hashed once at load, so only hashes live in memory.
import type { UserRecord } from '../auth/authenticator.js';
import { hashPassword } from '../auth/password-hash.js';
import type { Config } from '../config/schema.js';

// Hashing is slow on purpose; cache per plain password so a reload does not re-hash unchanged users.
const hashed = new Map<string, string>();

export async function loadUsers(cfg: Config): Promise<UserRecord[]> {
  const out: UserRecord[] = [];
  for (const u of cfg.users) {
    let hash = u.password_hash;
    if (hash === undefined) {
      const key = `${u.name}\0${u.password!}`;
      hash = hashed.get(key);
      if (!hash) {
        hash = await hashPassword(u.password!);
        hashed.set(key, hash);
      }
    }
    out.push({ name: u.name, passwordHash: hash, enabled: u.enabled });
  }
  return out;
}
