// The embedded default: what `ferry serve` (and `npm start`) runs with no configuration file.
// Listeners on 127.0.0.1 only, authentication on, one generated user whose password is printed once
// (at creation) and stored only as a hash in the data directory.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '../auth/password-hash.js';
import type { ConfigInput } from '../config/schema.js';

export const DEFAULT_LISTENERS: {
  name: string;
  type: 'http' | 'https' | 'socks' | 'mixed';
  listen: string;
}[] = [
  { name: 'http', type: 'http', listen: '127.0.0.1:8080' },
  { name: 'https', type: 'https', listen: '127.0.0.1:8443' },
  { name: 'socks', type: 'socks', listen: '127.0.0.1:1080' },
];

export interface DefaultUser {
  name: string;
  passwordHash: string;
  /** Set only when the user was created by this call: the one time the password is shown. */
  newPassword?: string;
}

/** Loads the generated default user from the data directory, creating it on first run. */
export async function ensureDefaultUser(dataDir: string): Promise<DefaultUser> {
  const file = join(dataDir, 'default-user.json');
  if (existsSync(file)) {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { name: string; password_hash: string };
    return { name: j.name, passwordHash: j.password_hash };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // 18 random bytes → 24 base64url characters: ~144 bits, no characters that need URL escaping.
  const password = randomBytes(18).toString('base64url');
  const passwordHash = await hashPassword(password);
  writeFileSync(file, JSON.stringify({ name: 'ferry', password_hash: passwordHash }, null, 2) + '\n', {
    mode: 0o600,
  });
  return { name: 'ferry', passwordHash, newPassword: password };
}

export function defaultConfig(dataDir: string, user: DefaultUser): ConfigInput {
  return {
    data_dir: dataDir,
    users: [{ name: user.name, password_hash: user.passwordHash }],
    inbounds: DEFAULT_LISTENERS.map((l) => ({ ...l, auth: true })),
  };
}
