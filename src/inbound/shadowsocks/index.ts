// The Shadowsocks server inbound (SIP004/SIP007 AEAD and SIP022 2022 editions): TCP connections come
// from the gateway's listener through handle(); attach() binds the UDP relay to the same address and
// port once the listener is up, and closes it with the listener.
import type { Server, Socket } from 'node:net';
import type { ServerKeyTable } from '../../crypto/ss/keys.js';
import { SaltPool, SaltRing, type SaltAuthority, type SaltFilter } from '../../crypto/ss/replay.js';
import type { InboundContext, InboundHandler } from '../context.js';
import { KeyTableCache, type KeySource } from './keys.js';
import { handleTcp } from './tcp.js';
import { SsUdpRelay } from './udp.js';

export type { KeySource, SsInboundSettings, SsUserEntry } from './keys.js';

export interface ShadowsocksHandler extends InboundHandler {
  /** Starts the UDP relay on the listener's address once it listens; stops it when it closes. */
  attach(server: Server): void;
  /** Resolves when the UDP relay is bound (or immediately when UDP is off). */
  readonly udpReady: Promise<void>;
  readonly udp: SsUdpRelay | null;
  close(): void;
}

export interface ShadowsocksOptions {
  /** Relay UDP as well as TCP (default true). */
  udp?: boolean;
  /** Clock, for tests of the timestamp checks. */
  now?: () => number;
  /** Cluster-wide salt claims (workers > 1): a salt one worker saw is refused by the others. */
  authority?: SaltAuthority;
}

export function createShadowsocksHandler(
  ctx: InboundContext,
  keys: KeySource,
  opts: ShadowsocksOptions = {},
): ShadowsocksHandler {
  const cache = new KeyTableCache(keys, (err) =>
    ctx.log.error({ inbound: ctx.name, err: err.message }, 'shadowsocks keys not updated'),
  );
  cache.get(); // validate now: a bad key must stop startup, not the first client
  // One replay filter per inbound and edition (a reload may switch the method).
  let aeadSalts: SaltRing | null = null;
  let salts2022: SaltPool | null = null;
  const salts = (t: ServerKeyTable): SaltFilter =>
    t.method.edition === 'aead'
      ? (aeadSalts ??= new SaltRing())
      : (salts2022 ??= new SaltPool(60_000, opts.now));
  const deps = {
    ctx,
    table: () => cache.get(),
    salts,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.authority ? { authority: opts.authority } : {}),
  };
  const udp = opts.udp === false ? null : new SsUdpRelay(ctx, () => cache.get(), opts.now);
  let markReady: () => void = () => undefined;
  const udpReady = udp ? new Promise<void>((r) => (markReady = r)) : Promise.resolve();

  return {
    udp,
    udpReady,
    handle(socket: Socket): void {
      handleTcp(deps, socket);
    },
    attach(server: Server): void {
      if (!udp) return;
      const start = (): void => {
        const a = server.address();
        if (!a || typeof a !== 'object') return;
        udp.bind(a.address, a.port).then(
          () => markReady(),
          (err: Error) => {
            ctx.log.error(
              { inbound: ctx.name, err: err.message },
              'shadowsocks: cannot bind the UDP relay; TCP only',
            );
            markReady();
          },
        );
      };
      if (server.listening) start();
      else server.once('listening', start);
      server.once('close', () => udp.close());
    },
    close(): void {
      udp?.close();
    },
  };
}
