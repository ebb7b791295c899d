// Shadowsocks share links for users: `ferry user show NAME` prints one SIP002 link (and its QR code)
// per Shadowsocks inbound of the config file, and `ferry user ss-key NAME [--rotate]` creates or
// replaces a store user's key. The inbound's method, port and server key come from the config file
// (-c / $FERRY_CONFIG); the user's key from the store (through the control API, so --api works too)
// or, for a config user, from its ss_password.
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import type { ControlClient } from '../control/client.js';
import { parseListen } from '../config/listen-address.js';
import { methodInfo } from '../crypto/ss/methods.js';
import { userLink, userSecretFor } from '../share/ss-user-key.js';
import {
  clientOptions,
  printJson,
  shadowsocksOf,
  withClient,
  type ClientFlags,
  type SsInboundBits,
} from './control-client.js';
import { qrForTerminal, writeQrFile } from './qr.js';

export interface LinkFlags extends ClientFlags {
  /** The server's public host name or address for links (default: the listen address, else hostname). */
  host?: string;
  /** Print the QR code in the terminal (commander's --no-qr sets false). */
  qr?: boolean;
  /** Also write the first link's QR code to this .png / .svg file. */
  qrFile?: string;
}

export interface UserSsLink {
  inbound: string;
  link: string;
}

/** Adds --host, --no-qr and --qr-file to a command that prints links. */
export function linkOptions(cmd: Command): Command {
  return cmd
    .option('--host <host>', 'public host name or address of the server, for Shadowsocks links')
    .option('--no-qr', 'do not print QR codes')
    .option('--qr-file <file>', "write the (first) Shadowsocks link's QR code to a .png or .svg file");
}

function linkHost(i: SsInboundBits, flags: LinkFlags): string {
  if (flags.host) return flags.host;
  const { host } = parseListen(i.listen);
  // A wildcard listener says nothing about how clients reach the server.
  return host === '0.0.0.0' || host === '::' || host === '' ? hostname() : host;
}

/**
 * The user's links, one per Shadowsocks inbound of the config file; empty when there is none.
 * `storeKey` is the user's stored key (null: none); config users use their ss_password.
 */
export function userSsLinks(name: string, storeKey: string | null, flags: LinkFlags): UserSsLink[] {
  const { shadowsocks, ssPasswords } = shadowsocksOf(flags);
  const out: UserSsLink[] = [];
  for (const i of shadowsocks) {
    const method = methodInfo(i.method);
    const own = ssPasswords.get(name) ?? (storeKey !== null ? userSecretFor(method, storeKey) : null);
    // AEAD with per-user keys and no shared password: a user without a key has no way in.
    if (own === null && method.edition === 'aead' && i.password === undefined) continue;
    const { port } = parseListen(i.listen);
    out.push({
      inbound: i.name,
      link: userLink({
        method,
        inboundPassword: i.password,
        userSecret: own,
        host: linkHost(i, flags),
        port,
        tag: `${name}@${i.name}`,
      }),
    });
  }
  return out;
}

/** The stored key, or null when the user has none or is not a store user. */
export async function storedKey(c: ControlClient, name: string): Promise<string | null> {
  try {
    return (await c.users.shadowsocksKey(name)).key;
  } catch (e) {
    if (e instanceof FerryError && e.code === 'E_NOT_FOUND') return null;
    throw e;
  }
}

/** Prints links with their QR codes (text mode). */
export async function printSsLinks(links: UserSsLink[], flags: LinkFlags): Promise<void> {
  for (const l of links) {
    process.stdout.write(`\nShadowsocks (${l.inbound}) — any SIP002 client; keep it secret:\n${l.link}\n`);
    if (flags.qr !== false) process.stdout.write(await qrForTerminal(l.link));
  }
  if (flags.qrFile && links[0]) {
    await writeQrFile(links[0].link, flags.qrFile);
    process.stdout.write(`QR code written to ${flags.qrFile}\n`);
  }
}

export function registerShadowsocksKeyCommand(user: Command): void {
  linkOptions(
    clientOptions(
      user
        .command('ss-key <name>')
        .description("a user's Shadowsocks key as share links (config -c); --rotate makes a new key")
        .option('--rotate', 'create the key, or replace it (clients with the old key stop working)'),
    ),
  ).action(async (name: string, flags: LinkFlags & { rotate?: boolean }) => {
    const key = await withClient(flags, async (c) =>
      flags.rotate ? (await c.users.rotateShadowsocksKey(name)).key : storedKey(c, name),
    );
    const links = userSsLinks(name, key, flags);
    if (flags.json) return printJson({ user: name, key, links });
    if (key === null && !shadowsocksOf(flags).ssPasswords.has(name))
      process.stdout.write(
        `user ${name} has no Shadowsocks key; \`ferry user ss-key ${name} --rotate\` makes one\n`,
      );
    else if (flags.rotate) process.stdout.write(`new Shadowsocks key for ${name}\n`);
    if (links.length === 0)
      process.stdout.write('no Shadowsocks inbound in the config file (give it with -c or $FERRY_CONFIG)\n');
    await printSsLinks(links, flags);
  });
}
