// Builds the outbound table from configuration.
import type { Config } from '../config/schema.js';
import { DirectOutbound } from '../outbound/direct.js';
import type { Outbound } from '../outbound/outbound.js';
import { RejectOutbound } from '../outbound/reject.js';
import { buildExits, buildSourceAddress, type ExitBuildOptions } from '../outbound/exits.js';
import { parseServer, ShadowsocksOutbound } from '../outbound/shadowsocks.js';

export function buildOutbounds(cfg: Config, exitOpts: ExitBuildOptions = {}): Map<string, Outbound> {
  const m = new Map<string, Outbound>();
  for (const o of cfg.outbounds) {
    switch (o.type) {
      case 'direct':
        m.set(
          o.name,
          buildSourceAddress(o) ??
            new DirectOutbound({
              name: o.name,
              ...(o.bind ? { bind: o.bind } : {}),
              ...(o.interface ? { interface: o.interface } : {}),
            }),
        );
        break;
      case 'reject':
        m.set(o.name, new RejectOutbound(o.name, o.reason));
        break;
      case 'shadowsocks':
        m.set(
          o.name,
          new ShadowsocksOutbound({
            name: o.name,
            ...parseServer(o.server),
            method: o.method,
            password: o.password,
          }),
        );
        break;
      default:
        break; // upstreams and pools: below, once what they refer to exists
    }
  }
  buildExits(cfg.outbounds, m, exitOpts);
  return m;
}
