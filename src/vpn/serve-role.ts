// How `ferry serve` runs the VPN server role: open the store of the data directory and start the
// interface; the returned handle closes both. Kept apart from serve.ts so serve only decides when.
import { resolve } from 'node:path';
import { privacyOf, type Config } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { openStore } from '../control/open-store.js';
import type { Store } from '../control/store/types.js';
import { startVpnServer, type VpnServer } from './server.js';

export interface VpnRole {
  server: VpnServer;
  /** A reload keeps the interface as it is; say so when the `vpn:` section changed. */
  warnIfChanged(next: Config, log: Logger): void;
  /** One line for the listener table printed by `ferry serve`. */
  banner(): string;
  close(): Promise<void>;
}

/**
 * Starts the VPN server if the config has a `vpn:` section. `store` is the gateway's store when the
 * caller has one open; otherwise the data directory's own is opened (and closed with the role).
 */
export async function startVpnRole(cfg: Config, log: Logger, store?: Store): Promise<VpnRole | null> {
  if (!cfg.vpn) return null;
  const dataDir = resolve(cfg.data_dir ?? process.env.FERRY_HOME ?? '.ferry');
  const ownStore = store ? null : await openStore({ dataDir, log });
  const s = store ?? ownStore!;
  let server: VpnServer;
  try {
    server = await startVpnServer({
      config: cfg.vpn,
      store: s,
      dataDir,
      log,
      loggingMode: privacyOf(cfg).mode,
    });
  } catch (e) {
    await ownStore?.close();
    throw e;
  }
  const p = server.profile;
  const t = server.tunnelAddresses;
  const dns = cfg.vpn.dns_forwarder ? `, DNS on ${[t.v4, t.v6].filter(Boolean).join(' ')} port 53` : '';
  const started = JSON.stringify(cfg.vpn);
  return {
    server,
    warnIfChanged(next, l) {
      if (JSON.stringify(next.vpn) !== started)
        l.warn('the vpn: section changed; it takes effect when ferry serve is restarted');
    },
    banner: () =>
      `  ${'vpn'.padEnd(6)} [::]:${server.listenPort}  udp (IPv4 and IPv6), wireguard ${server.interfaceName} ` +
      `${[p.poolV4, p.poolV6].filter(Boolean).join(' ')}, ${server.peerCount} peer(s)${dns}, ` +
      `public key ${p.publicKey}  (vpn)\n`,
    async close() {
      await server.close();
      await ownStore?.close();
    },
  };
}
