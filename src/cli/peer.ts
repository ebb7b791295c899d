// `ferry peer ...`: provisioning of VPN devices. `add` records the device in the store with the next
// free tunnel addresses and prints its wg-quick config and a QR code; `rotate` gives it new keys and
// the same addresses. Device private keys are generated here, printed once and never stored: the
// server only ever needs the public key. Works on the local data directory or through --api.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { uapiGet } from '../wireguard/uapi/client.js';
import { socketPath } from '../wireguard/uapi/server.js';
import { formatEndpoint } from '../wireguard/uapi/protocol.js';
import { ago, bytes } from './wg.js';
import { FerryError } from '../core/errors.js';
import type { PeerView } from '../control/service/views.js';
import { parseCidr } from '../net/cidr.js';
import { generatePresharedKey, generatePrivateKey, publicKeyOf } from '../wireguard/io/keys.js';
import { decodeKey, encodeKey } from '../wireguard/io/wg-config.js';
import { AddressPool } from '../vpn/pool.js';
import { formatClientConfig } from '../vpn/client-config.js';
import type { PublicProfile } from '../vpn/state.js';
import {
  clientOptions,
  collect,
  formatTime,
  printFields,
  printJson,
  printTable,
  withClient,
} from './control-client.js';
import { loadServerProfile, type ProfileFlags } from './peer-profile.js';
import { qrForTerminal, writeQrFile } from './qr.js';

interface ConfigFlags extends ProfileFlags {
  publicKey?: string;
  split: string[];
  dns: string[];
  endpoint?: string;
  qrFile?: string;
  qr?: boolean;
  psk?: boolean;
  out?: string;
}

function configOptions(cmd: Command): Command {
  return clientOptions(cmd)
    .option('--public-key <key>', 'use the public key the device generated (no private key is made)')
    .option(
      '--split <cidr>',
      'split tunnel: route only this network (repeatable; default: everything)',
      collect,
      [],
    )
    .option(
      '--dns <address>',
      "resolver for the device (repeatable; default: the server's vpn.dns)",
      collect,
      [],
    )
    .option('--endpoint <host:port>', "address the device dials (default: the server's vpn.endpoint)")
    .option('--no-psk', 'no preshared key (default: one is generated)')
    .option('--qr-file <file>', 'also write the QR code to a .png or .svg file')
    .option('--no-qr', 'no QR code in the terminal (default: shown when stdout is a terminal)')
    .option('--out <file>', 'write the config to this file (mode 0600) instead of stdout')
    .option('--profile <file>', "the server's vpn/server.json (needed with --api)");
}

interface Keys {
  privateKey: string | null;
  publicKey: string;
  presharedKey: string | null;
}

function makeKeys(flags: ConfigFlags): Keys {
  let publicKey: string;
  let privateKey: string | null = null;
  if (flags.publicKey) {
    try {
      publicKey = encodeKey(decodeKey(flags.publicKey));
    } catch (e) {
      throw new FerryError('E_INVALID', `--public-key: ${(e as Error).message}`);
    }
  } else {
    const k = generatePrivateKey();
    privateKey = encodeKey(k);
    publicKey = encodeKey(publicKeyOf(k));
  }
  return {
    privateKey,
    publicKey,
    presharedKey: flags.psk === false ? null : encodeKey(generatePresharedKey()),
  };
}

function checkFlags(flags: ConfigFlags, profile: PublicProfile): string {
  for (const c of flags.split) {
    try {
      parseCidr(c);
    } catch (e) {
      throw new FerryError('E_INVALID', `--split: ${(e as Error).message}`);
    }
  }
  for (const d of flags.dns)
    if (!/^[0-9a-fA-F:.]+$/.test(d)) throw new FerryError('E_INVALID', `--dns ${d}: give an IP address`);
  const endpoint = flags.endpoint ?? profile.endpoint;
  if (!endpoint)
    throw new FerryError(
      'E_INVALID',
      'the device needs to know where the server is: give --endpoint host:port or set vpn.endpoint in the config',
    );
  if (!/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(endpoint))
    throw new FerryError('E_INVALID', `endpoint '${endpoint}': expected HOST:PORT or [IPv6]:PORT`);
  return endpoint;
}

async function emit(
  p: PeerView,
  keys: Keys,
  profile: PublicProfile,
  endpoint: string,
  flags: ConfigFlags,
): Promise<void> {
  const pool = new AddressPool(profile.poolV4, profile.poolV6);
  const text = formatClientConfig({
    profile,
    serverAddresses: pool.serverAddresses(),
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    presharedKey: keys.presharedKey,
    addressV4: p.addressV4,
    addressV6: p.addressV6,
    endpoint,
    split: flags.split,
    ...(flags.dns.length ? { dns: flags.dns } : {}),
    label: `device ${p.name} of ${p.user}`,
  });
  if (flags.qrFile) await writeQrFile(text, flags.qrFile);
  if (flags.json) return printJson({ peer: p, config: text });
  if (flags.out) await writeFile(flags.out, text, { mode: 0o600 });
  else process.stdout.write(text);
  const showQr = flags.qr !== false && process.stdout.isTTY && !flags.out;
  if (showQr) process.stdout.write('\n' + (await qrForTerminal(text)));
  const where = [p.addressV4, p.addressV6].filter(Boolean).join(', ');
  process.stderr.write(
    `device ${p.name} of ${p.user}: ${where}` +
      (flags.out ? `; config written to ${flags.out}` : '') +
      (flags.qrFile ? `; QR code in ${flags.qrFile}` : '') +
      '\n' +
      (keys.privateKey
        ? 'The private key is in this config only; Ferry keeps the public key. Lost it? `ferry peer rotate`.\n'
        : ''),
  );
}

interface LiveStatus {
  interface: string;
  endpoint: string | null;
  latestHandshake: string | null;
  rxBytes: number;
  txBytes: number;
}

/**
 * What the running interface knows of this device (endpoint, last handshake, bytes), read from its
 * UAPI socket like `wg show`; null when no server runs here or it does not have the peer (yet).
 */
async function liveStatus(flags: ProfileFlags, publicKey: string): Promise<LiveStatus | null> {
  if (flags.api ?? process.env.FERRY_API) return null;
  let ifname: string;
  try {
    ifname = loadServerProfile(flags).interface;
  } catch {
    return null;
  }
  if (!existsSync(socketPath(ifname))) return null;
  try {
    const st = await uapiGet(ifname);
    const peer = st.peers.find((x) => encodeKey(x.publicKey) === publicKey);
    if (!peer) return null;
    return {
      interface: ifname,
      endpoint: peer.endpoint ? formatEndpoint(peer.endpoint) : null,
      latestHandshake: peer.lastHandshakeWallMs ? ago(Date.now() - peer.lastHandshakeWallMs) : null,
      rxBytes: peer.rxBytes,
      txBytes: peer.txBytes,
    };
  } catch {
    return null;
  }
}

export function registerPeerCommands(program: Command): void {
  const peer = program
    .command('peer')
    .description('VPN devices: add (config + QR code), list, show, remove, rotate');

  configOptions(
    peer
      .command('add <user> <device>')
      .description('add a device with the next free tunnel addresses; print its wg-quick config and QR code'),
  ).action(async (user: string, device: string, flags: ConfigFlags) => {
    const profile = loadServerProfile(flags);
    const endpoint = checkFlags(flags, profile);
    const keys = makeKeys(flags);
    const p = await withClient(flags, (c) =>
      c.peers.add({
        user,
        name: device,
        publicKey: keys.publicKey,
        presharedKey: keys.presharedKey,
        allocate: { v4: profile.poolV4, v6: profile.poolV6 },
      }),
    );
    await emit(p, keys, profile, endpoint, flags);
  });

  configOptions(
    peer
      .command('rotate <user> <device>')
      .description('new keys for a device (same addresses); print its new config; the old key stops working'),
  ).action(async (user: string, device: string, flags: ConfigFlags) => {
    const profile = loadServerProfile(flags);
    const endpoint = checkFlags(flags, profile);
    const keys = makeKeys(flags);
    const p = await withClient(flags, (c) =>
      c.peers.rotate(user, device, { publicKey: keys.publicKey, presharedKey: keys.presharedKey }),
    );
    await emit(p, keys, profile, endpoint, flags);
  });

  clientOptions(peer.command('list [user]').description('devices, of one user or all')).action(
    async (user: string | undefined, flags: ProfileFlags) => {
      const list = await withClient(flags, (c) => c.peers.list(user));
      if (flags.json) return printJson(list);
      printTable(
        ['USER', 'DEVICE', 'ADDRESSES', 'PUBLIC KEY', 'CREATED'],
        list.map((p) => [
          p.user,
          p.name,
          [p.addressV4, p.addressV6].filter(Boolean).join(' '),
          p.publicKey,
          formatTime(p.createdAt),
        ]),
      );
    },
  );

  clientOptions(peer.command('show <user> <device>').description('one device')).action(
    async (user: string, device: string, flags: ProfileFlags) => {
      const list = await withClient(flags, (c) => c.peers.list(user));
      const p = list.find((x) => x.name === device);
      if (!p) throw new FerryError('E_NOT_FOUND', `user '${user}' has no device '${device}'`);
      const live = await liveStatus(flags, p.publicKey);
      if (flags.json) return printJson(live ? { ...p, live } : p);
      printFields([
        ['user', p.user],
        ['device', p.name],
        ['public key', p.publicKey],
        ['ipv4', p.addressV4],
        ['ipv6', p.addressV6],
        ['created', formatTime(p.createdAt)],
        ...(live
          ? ([
              ['endpoint', live.endpoint],
              ['handshake', live.latestHandshake],
              ['transfer', `${bytes(live.rxBytes)} received, ${bytes(live.txBytes)} sent`],
            ] as [string, string | null][])
          : []),
      ]);
    },
  );

  clientOptions(
    peer
      .command('remove <user> <device>')
      .description('delete a device; the server drops its sessions within seconds'),
  ).action(async (user: string, device: string, flags: ProfileFlags) => {
    await withClient(flags, (c) => c.peers.remove(user, device));
    if (flags.json) printJson({ removed: device });
    else process.stdout.write(`device ${device} of ${user} removed\n`);
  });
}
