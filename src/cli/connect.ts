// `ferry connect ss://…`: a local HTTP + SOCKS5 proxy (one "mixed" port) whose every session goes to
// a Shadowsocks server — Ferry's or any other (shadowsocks-libev, shadowsocks-rust, sing-box, v2ray,
// Outline). UDP through SOCKS5 UDP ASSOCIATE is carried by the server's UDP relay.
import type { Command } from 'commander';
import { FerryError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { isLoopbackHost, parseListen } from '../config/listen-address.js';
import { startGateway, type Gateway } from '../server/gateway.js';
import { parseSsUri } from '../share/ss-uri.js';

export interface ConnectOptions {
  /** SIP002 link (ss://…). */
  link: string;
  /** Local listener, default 127.0.0.1:1080. */
  listen?: string;
  /** Allow a non-loopback listener (an open proxy for the LAN into the tunnel). */
  allowLan?: boolean;
  log?: Logger;
}

/** Starts the local proxy; resolves with the running gateway (its inbound is named "local"). */
export async function startConnect(o: ConnectOptions): Promise<Gateway> {
  const link = parseSsUri(o.link);
  if (link.plugin)
    throw new FerryError(
      'E_UNSUPPORTED',
      `this link needs the SIP003 plugin '${link.plugin.split(';')[0]}', which Ferry does not run`,
    );
  const listen = o.listen ?? '127.0.0.1:1080';
  const { host } = parseListen(listen);
  if (!isLoopbackHost(host) && !o.allowLan) {
    throw new FerryError(
      'E_CONFIG',
      `refusing to listen on ${listen} without --allow-lan: anyone who reaches it could use the tunnel`,
    );
  }
  const server = link.host.includes(':') ? `[${link.host}]:${link.port}` : `${link.host}:${link.port}`;
  return startGateway(
    {
      inbounds: [{ name: 'local', type: 'mixed', listen, auth: false, allow_open: o.allowLan === true }],
      outbounds: [{ name: 'ss', type: 'shadowsocks', server, method: link.method, password: link.password }],
      router: { default: 'ss' },
    },
    { log: o.log ?? createLogger({ level: 'info' }) },
  );
}

interface ConnectFlags {
  listen: string;
  allowLan?: boolean;
  logLevel: string;
}

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description(
      'run a local HTTP+SOCKS5 proxy that forwards over Shadowsocks (AEAD or 2022) to the server of an ss:// link',
    )
    .argument('<link>', 'SIP002 link, e.g. ss://…@host:8388#name (quote it in the shell)')
    .option('-l, --listen <addr>', 'local proxy address (HTTP and SOCKS5 on one port)', '127.0.0.1:1080')
    .option('--allow-lan', 'allow a non-loopback --listen address')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .action(async (link: string, flags: ConnectFlags) => {
      const log = createLogger({ level: flags.logLevel });
      const gw = await startConnect({ link, listen: flags.listen, allowLan: flags.allowLan === true, log });
      const { host, port } = gw.address('local');
      const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      const target = parseSsUri(link);
      process.stdout.write(
        `ferry connect: ${shown} (HTTP + SOCKS5) → ${target.host}:${target.port} (${target.method}${target.tag ? `, ${target.tag}` : ''})\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
          gw.close(5_000).then(resolve, resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
