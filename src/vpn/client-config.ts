// The wg-quick(8) configuration a device imports (file or QR code): its own key and addresses, the
// server as its one peer. Full tunnel by default (AllowedIPs 0.0.0.0/0, ::/0: every packet of the
// device goes through the tunnel, wg-quick adds the policy routing that keeps the endpoint
// reachable); split tunnel lists the chosen networks plus the server's own tunnel addresses, so
// the tunnel DNS still answers.
import type { PublicProfile } from './state.js';

export const PRIVATE_KEY_PLACEHOLDER = 'REPLACE_WITH_THIS_DEVICE_PRIVATE_KEY';

export interface ClientConfigInput {
  profile: PublicProfile;
  /** The server's tunnel addresses (for split tunnel); null for a family the pool lacks. */
  serverAddresses: { v4: string | null; v6: string | null };
  /** base64, or null when the device made its own key (a placeholder is written). */
  privateKey: string | null;
  /** The device's public key, for the note when privateKey is null. */
  publicKey: string;
  presharedKey: string | null;
  addressV4: string | null;
  addressV6: string | null;
  /** `host:port` the device dials. */
  endpoint: string;
  /** Networks to route through the tunnel; empty = full tunnel. */
  split: string[];
  /** Resolvers; default the profile's. */
  dns?: string[];
  /** For the comment header. */
  label: string;
}

export function formatClientConfig(c: ClientConfigInput): string {
  const out: string[] = [`# Ferry VPN: ${c.label}`];
  const iface: string[] = ['[Interface]'];
  if (c.privateKey) {
    out.push('# The private key below is shown only this once: the server does not keep it.');
    iface.push(`PrivateKey = ${c.privateKey}`);
  } else {
    out.push(
      '# This device made its own key pair: replace the placeholder with its private key',
      `# (the one whose public key is ${c.publicKey}).`,
    );
    iface.push(`PrivateKey = ${PRIVATE_KEY_PLACEHOLDER}`);
  }
  const addrs = [c.addressV4 && `${c.addressV4}/32`, c.addressV6 && `${c.addressV6}/128`].filter(Boolean);
  iface.push(`Address = ${addrs.join(', ')}`);
  const dns = c.dns ?? c.profile.dns;
  if (dns.length) iface.push(`DNS = ${dns.join(', ')}`);
  iface.push(`MTU = ${c.profile.mtu}`);

  let allowed: string[];
  if (c.split.length === 0) {
    // Full tunnel, both families even when the pool has no IPv6: ::/0 into a tunnel that carries no
    // IPv6 drops the device's IPv6 traffic instead of letting it leave outside the tunnel.
    allowed = ['0.0.0.0/0', '::/0'];
  } else {
    allowed = [...c.split];
    if (c.serverAddresses.v4) allowed.push(`${c.serverAddresses.v4}/32`);
    if (c.serverAddresses.v6) allowed.push(`${c.serverAddresses.v6}/128`);
    allowed = [...new Set(allowed)];
  }
  const peer = ['[Peer]', `PublicKey = ${c.profile.publicKey}`];
  if (c.presharedKey) peer.push(`PresharedKey = ${c.presharedKey}`);
  peer.push(`Endpoint = ${c.endpoint}`, `AllowedIPs = ${allowed.join(', ')}`);
  if (c.profile.keepalive) peer.push(`PersistentKeepalive = ${c.profile.keepalive}`);
  return [...out, '', ...iface, '', ...peer].join('\n') + '\n';
}
