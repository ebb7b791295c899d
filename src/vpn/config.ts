// The `vpn:` section of the server configuration: one WireGuard interface that devices of the
// store's users connect to, with an address pool, optional internet exit (NAT) and routed internal
// networks.
//
//   vpn:
//     interface: ferry0            # at most 15 bytes (IFNAMSIZ)
//     listen_port: 51820
//     endpoint: vpn.example.com:51820   # what client configs dial (ferry peer add --endpoint overrides)
//     address_v4: 10.66.0.0/24     # pool; the server takes the first host address
//     address_v6: auto             # a ULA /64 generated once and kept in the data directory, or a prefix, or none
//     mtu: 1420
//     nat: true                    # internet exit: forwarding + masquerade
//     routes: [192.168.10.0/24]    # internal networks, routed without NAT
//     dns: [tunnel]                # resolvers handed to clients; "tunnel" = the server's tunnel addresses
//     dns_forwarder:               # the resolver Ferry runs there
//       upstreams: [tls://9.9.9.9#dns.quad9.net]
import { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { parseUpstreamUrl } from '../dns/upstream/url.js';

/** Linux interface names: IFNAMSIZ is 16 including the NUL; no '/', ':' or whitespace (dev_valid_name). */
const ifname = z
  .string()
  .regex(/^[A-Za-z0-9_.=+-]{1,15}$/, 'an interface name of at most 15 letters, digits or "_.=+-"');

function cidrOf(family: 4 | 6, minPrefix: number, maxPrefix: number, what: string) {
  return z.string().superRefine((s, ctx) => {
    let c;
    try {
      c = parseCidr(s);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return;
    }
    if (!s.includes('/')) ctx.addIssue({ code: 'custom', message: `'${s}': give a prefix, e.g. ${what}` });
    else if (c.family !== family)
      ctx.addIssue({ code: 'custom', message: `'${s}' is not an IPv${family} prefix (e.g. ${what})` });
    else if (c.prefix < minPrefix || c.prefix > maxPrefix)
      ctx.addIssue({
        code: 'custom',
        message: `'${s}': the prefix length must be /${minPrefix}../${maxPrefix} (e.g. ${what})`,
      });
  });
}

const anyCidr = z.string().superRefine((s, ctx) => {
  try {
    parseCidr(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):\d{1,5}$/, 'HOST:PORT or [IPv6]:PORT, e.g. vpn.example.com:51820')
  .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, 'port must be at most 65535');

const dnsEntry = z.union([z.literal('tunnel'), z.ipv4(), z.ipv6()]);

export const vpnConfigSchema = z
  .object({
    interface: ifname.default('ferry0'),
    listen_port: z.number().int().min(1).max(65535).default(51820),
    endpoint: hostPort.optional(),
    // /8../30: a /31 or /32 leaves no address for a client once the server has taken one.
    address_v4: cidrOf(4, 8, 30, '10.66.0.0/24').default('10.66.0.0/24'),
    // /48../120: large enough for the pool, and RFC 4193 ULA prefixes are /48 with a /64 subnet.
    address_v6: z
      .union([z.literal('auto'), z.literal('none'), cidrOf(6, 48, 120, 'fd12:3456:789a:1::/64')])
      .default('auto'),
    // 1420: 1500 minus the largest WireGuard overhead (IPv6 40 + UDP 8 + WireGuard 32), as wg-quick.
    mtu: z.number().int().min(1280).max(9000).default(1420),
    nat: z.boolean().default(true),
    routes: z.array(anyCidr).default([]),
    /** Whether clients may reach each other through the server (off: each device sees only the server). */
    client_to_client: z.boolean().default(false),
    dns: z.array(dnsEntry).default([]),
    /**
     * The DNS forwarder Ferry runs on its tunnel addresses (UDP and TCP port 53), for clients whose
     * config says `DNS = <tunnel address>` (dns: [tunnel]). Answers only the pool.
     */
    dns_forwarder: z
      .object({
        /** udp://, tcp://, tls:// (DoT) or https:// (DoH) URLs, tried in order. */
        upstreams: z
          .array(
            z.string().superRefine((u, ctx) => {
              try {
                parseUpstreamUrl(u);
              } catch (e) {
                ctx.addIssue({ code: 'custom', message: (e as Error).message });
              }
            }),
          )
          .min(1, 'give at least one upstream resolver'),
        /** PEM CA certificates for tls:// and https:// upstreams instead of the system's. */
        ca_file: z.string().min(1).optional(),
        cache: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** PersistentKeepalive written into client configs (seconds, 0 = none). */
    keepalive: z.number().int().min(0).max(65535).default(25),
    /** How often the store is polled for peer changes made by other processes (the CLI). */
    poll_interval_ms: z.number().int().min(100).max(60_000).default(2000),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.dns.includes('tunnel') && !v.dns_forwarder)
      ctx.addIssue({
        code: 'custom',
        path: ['dns'],
        message:
          '"tunnel" points clients at a resolver on the server: give dns_forwarder: { upstreams: [...] } for it to forward to',
      });
  });

export type VpnConfigInput = z.input<typeof vpnConfigSchema>;
export type VpnConfig = z.output<typeof vpnConfigSchema>;
