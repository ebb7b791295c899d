// The VPN server's effective settings: the `vpn:` config section completed with what lives in the
// data directory (private key, generated ULA prefix). `ferry serve` and `ferry peer` both derive it
// here, so a client config printed by the CLI always matches the running interface.
import { encodeKey } from '../wireguard/io/wg-config.js';
import { publicKeyOf } from '../wireguard/io/keys.js';
import { AddressPool } from './pool.js';
import type { VpnConfig } from './config.js';
import { loadOrCreatePrivateKey, loadOrCreateUlaPrefix, type PublicProfile } from './state.js';

export interface ServerProfile {
  config: VpnConfig;
  privateKey: Uint8Array;
  pool: AddressPool;
  public: PublicProfile;
}

export function resolveProfile(config: VpnConfig, dataDir: string): ServerProfile {
  const privateKey = loadOrCreatePrivateKey(dataDir, config.interface);
  const v6 =
    config.address_v6 === 'none'
      ? null
      : config.address_v6 === 'auto'
        ? loadOrCreateUlaPrefix(dataDir, config.interface)
        : config.address_v6;
  const pool = new AddressPool(config.address_v4, v6);
  const server = pool.serverAddresses();
  const dns: string[] = [];
  for (const d of config.dns) {
    if (d !== 'tunnel') dns.push(d);
    else dns.push(...[server.v4, server.v6].filter((a): a is string => a !== null));
  }
  return {
    config,
    privateKey,
    pool,
    public: {
      interface: config.interface,
      publicKey: encodeKey(publicKeyOf(privateKey)),
      listenPort: config.listen_port,
      endpoint: config.endpoint ?? null,
      poolV4: pool.prefixV4,
      poolV6: pool.prefixV6,
      mtu: config.mtu,
      dns: [...new Set(dns)],
      routes: config.routes,
      keepalive: config.keepalive,
    },
  };
}
