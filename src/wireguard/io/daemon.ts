// Runs one interface with its UAPI socket until it is told to stop: shared by `ferry-wg` and
// `ferry wg up`. Stop conditions mirror wireguard-go's main loop: SIGTERM/SIGINT, the interface being
// deleted (`ip link del`), or the UAPI socket being removed (how `wg-quick down` stops a userspace
// implementation). Whatever the reason, the socket is removed and the TUN fd closed on the way out.
import { WgInterface, type LogFn } from './interface.js';
import { UapiServer } from '../uapi/server.js';

export interface RunningInterface {
  iface: WgInterface;
  uapi: UapiServer;
  /** Resolves with the reason once everything is torn down. */
  stopped: Promise<string>;
  stop(reason?: string): Promise<void>;
}

export type Level = 'silent' | 'error' | 'info' | 'verbose';

export function makeLogger(
  prefix: string,
  level: Level,
  sink: (line: string) => void = (l) => process.stderr.write(l),
): LogFn {
  const rank: Record<Level, number> = { silent: 0, error: 1, info: 2, verbose: 3 };
  return (lvl, msg) => {
    if (rank[lvl] <= rank[level])
      sink(`${new Date().toISOString()} ${prefix}: ${lvl.toUpperCase()}: ${msg}\n`);
  };
}

export async function runInterface(
  name: string,
  log: LogFn,
  opts: { listenPort?: number } = {},
): Promise<RunningInterface> {
  // Signals that arrive while the interface is being set up are held and acted on once it is (the
  // socket may already be visible to a supervisor that sends SIGTERM at once). There is one listener
  // for the whole life of the interface, whose behaviour changes, rather than one listener swapped
  // for another: removing the last listener closes Node's signal handle, and a signal already caught
  // but not yet dispatched would be lost with it.
  let early: string | null = null;
  let onSignal = (sig: NodeJS.Signals): void => void (early = `received ${sig}`);
  const signalListener = (sig: NodeJS.Signals): void => onSignal(sig);
  process.on('SIGTERM', signalListener);
  process.on('SIGINT', signalListener);
  let iface: WgInterface;
  let uapi: UapiServer;
  try {
    iface = await WgInterface.create({
      name,
      log,
      ...(opts.listenPort !== undefined ? { listenPort: opts.listenPort } : {}),
    });
    try {
      uapi = await UapiServer.listen(iface.name, {
        state: () => iface.uapiState(),
        target: iface.uapiTarget(),
        onError: (m) => log('error', `UAPI: ${m}`),
      });
    } catch (e) {
      iface.close();
      throw e;
    }
  } catch (e) {
    process.off('SIGTERM', signalListener);
    process.off('SIGINT', signalListener);
    throw e;
  }

  let resolveStopped!: (r: string) => void;
  const stopped = new Promise<string>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;
  const stop = (reason = 'stopped'): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      log('info', `shutting down: ${reason}`);
      onSignal = () => {}; // a second signal while stopping changes nothing
      process.off('exit', onExit);
      process.off('SIGUSR1', onUsr1);
      clearInterval(linkCheck);
      await uapi.close();
      iface.close(reason);
      process.off('SIGTERM', signalListener);
      process.off('SIGINT', signalListener);
      resolveStopped(reason);
    })();
    return stopping;
  };
  onSignal = (sig) => void stop(`received ${sig}`);
  // SIGUSR1 writes the counters (drops by reason, batches, timer wake-ups) as one JSON line to
  // stderr: the UAPI has no place for them and wg(8) would not show them anyway.
  const onUsr1 = (): void => {
    process.stderr.write(`stats ${iface.name} ${JSON.stringify(iface.stats)}\n`);
  };
  // Last resort if the process dies through an uncaught exception: never leave a stale socket.
  const onExit = (): void => uapi.closeSync();
  process.on('exit', onExit);
  process.on('SIGUSR1', onUsr1);
  iface.onClose((reason) => void stop(reason));
  uapi.onRemoved(() => void stop('UAPI socket removed'));
  // Without rtnetlink (unusual sandboxes) link changes and deletion are polled instead.
  const linkCheck = iface.linkWatched ? undefined : setInterval(() => iface.checkLink(), 1000);
  linkCheck?.unref();

  log('info', `interface ${iface.name} up, UAPI at ${uapi.path}`);
  if (early) void stop(early);
  return { iface, uapi, stopped, stop };
}
