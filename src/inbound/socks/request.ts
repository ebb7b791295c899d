// A parsed SOCKS request becomes a Session and goes to its command: CONNECT (both dialects), BIND
// (both), UDP ASSOCIATE (SOCKS5 only). Anything else gets "command not supported".
import type { Socket } from 'node:net';
import { asFerryError, FerryError } from '../../core/errors.js';
import { newSessionId, type Command, type Destination, type Session } from '../../core/session.js';
import type { InboundContext } from '../context.js';
import { logBadClient } from '../dispatch.js';
import { runBind } from './bind.js';
import { runConnect } from './connect.js';
import { CMD_BIND, CMD_CONNECT, CMD_UDP_ASSOCIATE, REP_COMMAND_NOT_SUPPORTED } from './constants.js';
import { refuse, type SocksVersion } from './io.js';
import { runUdpAssociate } from './udp-associate.js';

export interface SocksRequest {
  version: SocksVersion;
  cmd: number;
  dest: Destination;
  user: string | null;
  /** Bytes the client sent after the request without waiting for the reply (optimistic data). */
  leftover: Buffer | null;
}

class CommandNotSupported extends FerryError {
  constructor(v: SocksVersion, cmd: number) {
    super('E_UNSUPPORTED', `SOCKS${v} command 0x${cmd.toString(16).padStart(2, '0')} is not supported`);
  }
  override get socks5Reply(): number {
    return REP_COMMAND_NOT_SUPPORTED;
  }
}

export function runRequest(ctx: InboundContext, socket: Socket, req: SocksRequest): void {
  let command: Command;
  if (req.cmd === CMD_CONNECT) command = 'connect';
  else if (req.cmd === CMD_BIND) command = 'bind';
  else if (req.cmd === CMD_UDP_ASSOCIATE && req.version === 5) command = 'udp';
  else {
    const err = new CommandNotSupported(req.version, req.cmd);
    logBadClient(ctx, err, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`);
    refuse(socket, req.version, err);
    return;
  }
  const session: Session = {
    id: newSessionId(),
    inbound: ctx.name,
    user: req.user,
    source: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    dest: req.dest,
    command,
  };
  const run = command === 'connect' ? runConnect : command === 'bind' ? runBind : runUdpAssociate;
  run(ctx, socket, session, req).catch((err: unknown) => {
    // The commands handle their own failures; reaching this is a bug, but it must not crash the process.
    const fe = asFerryError(err);
    ctx.log.error({ inbound: ctx.name, code: fe.code, err: fe.message }, 'SOCKS session failed');
    socket.destroy();
  });
}
