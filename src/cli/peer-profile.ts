// Where `ferry peer` learns about the VPN server a client config must point at:
//   1. --profile <server.json> (a copy of the server's <data_dir>/vpn/server.json; for --api use),
//   2. the config file's `vpn:` section (-c / $FERRY_CONFIG) with the data directory's key,
//   3. <data_dir>/vpn/server.json, written by `ferry serve` at every start.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { FerryError } from '../core/errors.js';
import { formatIssues } from '../config/load.js';
import { vpnConfigSchema } from '../vpn/config.js';
import { resolveProfile } from '../vpn/profile.js';
import { readPublicProfile, type PublicProfile } from '../vpn/state.js';
import { dataDirOf, type ClientFlags } from './control-client.js';

export interface ProfileFlags extends ClientFlags {
  profile?: string;
}

export function loadServerProfile(flags: ProfileFlags): PublicProfile {
  if (flags.profile) {
    try {
      return JSON.parse(readFileSync(flags.profile, 'utf8')) as PublicProfile;
    } catch (e) {
      throw new FerryError('E_CONFIG', `--profile ${flags.profile}: ${(e as Error).message}`);
    }
  }
  const file = flags.config ?? process.env.FERRY_CONFIG;
  const local = !(flags.api ?? process.env.FERRY_API);
  if (file) {
    let raw: { vpn?: unknown } | null;
    try {
      raw = parseYaml(readFileSync(file, 'utf8')) as { vpn?: unknown } | null;
    } catch (e) {
      throw new FerryError('E_CONFIG', `${file}: ${(e as Error).message}`);
    }
    if (raw?.vpn !== undefined && local) {
      const r = vpnConfigSchema.safeParse(raw.vpn ?? {});
      if (!r.success) throw new FerryError('E_CONFIG', formatIssues(`${file}: vpn`, r.error));
      return resolveProfile(r.data, dataDirOf(flags)).public;
    }
  }
  if (local) {
    const p = readPublicProfile(dataDirOf(flags));
    if (p) return p;
  }
  throw new FerryError(
    'E_CONFIG',
    local
      ? `no VPN server found: pass -c <config> with a vpn: section, or start \`ferry serve\` with one first (it writes ${dataDirOf(flags)}/vpn/server.json)`
      : "with --api, pass --profile <file>: a copy of the server's <data_dir>/vpn/server.json",
  );
}
