// The server role of `ferry serve` (config section `vpn:`): one WireGuard interface on a TUN device
// whose peers are the devices in the store, with forwarding/NAT for internet exit and routed
// internal networks.
//
//   const vpn = await startVpnServer({ config: cfg.vpn, store, dataDir, log });
//   ...
//   await vpn.close();
//
// Peers follow the store: it is polled (store.revision(), every poll_interval_ms) because the CLI
// changes it from another process, and refresh() applies a change made in this process at once.
// The interface is never restarted for a peer change (see peer-sync.ts).
import type { Logger } from '../core/logger.js';
import type { Store } from '../control/store/types.js';
import { WgInterface } from '../wireguard/io/interface.js';
import { UapiServer } from '../wireguard/uapi/server.js';
import { addAddress, setLinkUp } from '../tun/link.js';
import type { VpnConfig } from './config.js';
import { resolveProfile } from './profile.js';
import { writePublicProfile, type PublicProfile } from './state.js';
import { loadDesiredPeers, PeerInstaller } from './peer-sync.js';
import { enableForwarding, installFirewall, removeFirewall, tableName } from './firewall.js';
import { startTunnelDns } from './tunnel-dns.js';

export interface VpnServerOptions {
  config: VpnConfig;
  store: Store;
  dataDir: string;
  log: Logger;
  /** The service's privacy mode, handed to the DNS forwarder (which refuses query logs with none). */
  loggingMode?: 'none' | 'minimal' | 'audit';
}

export interface VpnServer {
  readonly interfaceName: string;
  readonly listenPort: number;
  readonly profile: PublicProfile;
  /** Addresses the server answers on inside the tunnel (where the DNS forwarder listens, with dns_forwarder). */
  readonly tunnelAddresses: { v4: string | null; v6: string | null };
  /** Number of peers installed from the store. */
  readonly peerCount: number;
  /** Re-reads the store now (after a change made in this process); resolves when applied. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

export async function startVpnServer(opts: VpnServerOptions): Promise<VpnServer> {
  const { config, store, log } = opts;
  const profile = resolveProfile(config, opts.dataDir);
  const ifname = config.interface;
  const wlog = log.child({ vpn: ifname });
  const iface = await WgInterface.create({
    name: ifname,
    listenPort: config.listen_port,
    log: (level, msg) =>
      level === 'error' ? wlog.error(msg) : level === 'info' ? wlog.info(msg) : wlog.debug(msg),
  });
  let closed = false;
  const undo: (() => void | Promise<void>)[] = [() => iface.close('vpn server stopped')];
  const cleanup = async (): Promise<void> => {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (e) {
        wlog.error({ err: (e as Error).message }, 'vpn cleanup step failed');
      }
    }
    undo.length = 0;
  };
  try {
    iface.device.setPrivateKey(profile.privateKey);
    // The UAPI socket lets `wg show <ifname>` report peers and handshakes; the store stays the source
    // of truth for peers (one added with `wg set` is not saved and is not touched by the sync).
    try {
      const uapi = await UapiServer.listen(ifname, {
        state: () => iface.uapiState(),
        target: iface.uapiTarget(),
        onError: (m) => wlog.warn(`UAPI: ${m}`),
      });
      undo.push(() => uapi.close());
    } catch (e) {
      wlog.warn({ err: (e as Error).message }, '`wg show` will not see this interface (no UAPI socket)');
    }
    for (const a of profile.pool.serverInterfaceAddresses()) addAddress(ifname, a);
    setLinkUp(ifname, config.mtu);

    const families: (4 | 6)[] = [];
    if (profile.public.poolV4) families.push(4);
    if (profile.public.poolV6) families.push(6);
    installFirewall({
      ifname,
      poolV4: profile.public.poolV4,
      poolV6: profile.public.poolV6,
      nat: config.nat,
      routes: config.routes,
      clientToClient: config.client_to_client,
    });
    undo.push(() => removeFirewall(ifname));
    if (config.nat || config.routes.length || config.client_to_client) undo.push(enableForwarding(families));
  } catch (e) {
    await cleanup();
    throw e;
  }
  writePublicProfile(opts.dataDir, profile.public);

  iface.onClose((reason) => {
    // Deleted under us (`ip link del`): the server cannot recreate it without losing its state.
    if (!closed) wlog.error({ reason }, 'the vpn interface is gone; restart ferry serve to bring it back');
  });

  const installer = new PeerInstaller({
    upsertPeer: (c) => iface.device.upsertPeer(c),
    removePeer: (k) => iface.device.removePeer(k),
  });
  let lastRevision = -1;
  let nextExpiry: number | null = null;
  let syncing: Promise<void> | null = null;
  const sync = async (force: boolean): Promise<void> => {
    const rev = await store.revision();
    const now = Date.now();
    if (!force && rev === lastRevision && (nextExpiry === null || now < nextExpiry)) return;
    const desired = await loadDesiredPeers(store, now);
    if (closed) return;
    const r = installer.apply(desired.peers);
    lastRevision = rev;
    nextExpiry = desired.nextExpiry;
    for (const label of r.added) wlog.info({ peer: label }, 'peer added');
    for (const label of r.updated) wlog.info({ peer: label }, 'peer updated');
    for (const label of r.removed) wlog.info({ peer: label }, 'peer removed');
    for (const err of r.errors) wlog.error({ err }, 'peer not installed');
  };
  const runSync = (force: boolean): Promise<void> => {
    // One sync at a time; a request during a sync waits for it and runs once more (it may have read
    // the store before the change that prompted the request).
    const next = (syncing ?? Promise.resolve()).then(() => sync(force));
    syncing = next.catch((e: unknown) => {
      wlog.error({ err: (e as Error).message }, 'reading peers from the store failed; will retry');
    });
    return next;
  };
  try {
    await runSync(true);
  } catch (e) {
    await cleanup();
    throw e;
  }
  const poll = setInterval(() => void runSync(false).catch(() => {}), config.poll_interval_ms);
  poll.unref();

  // DNS on the tunnel, once the addresses it listens on exist.
  try {
    const dns = await startTunnelDns({
      config,
      pool: profile.pool,
      log: wlog,
      ...(opts.loggingMode ? { loggingMode: opts.loggingMode } : {}),
    });
    if (dns) undo.push(() => dns.close());
  } catch (e) {
    clearInterval(poll);
    closed = true;
    await cleanup();
    throw e;
  }

  wlog.info(
    {
      port: iface.bind.listenPort,
      addresses: profile.pool.serverInterfaceAddresses(),
      nat: config.nat,
      routes: config.routes,
      peers: installer.size,
      table: tableName(ifname),
    },
    'vpn interface up',
  );

  return {
    interfaceName: ifname,
    listenPort: iface.bind.listenPort,
    profile: profile.public,
    tunnelAddresses: profile.pool.serverAddresses(),
    get peerCount() {
      return installer.size;
    },
    refresh: () => runSync(true),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      await syncing;
      await cleanup();
      wlog.info('vpn interface down');
    },
  };
}
