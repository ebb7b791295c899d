// The UAPI socket: /var/run/wireguard/<ifname>.sock, where `wg(8)` looks for userspace interfaces
// (wireguard-tools ipc-uapi.h). Framing per https://www.wireguard.com/xplatform/: an operation line
// `get=1` or `set=1`, then for `set` key=value lines up to an empty line; the reply is optional
// key=value lines, then `errno=N` and an empty line. Several operations may share one connection.
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import {
  UapiSetOperation,
  UapiError,
  UAPI_ERRNO,
  serializeGet,
  type UapiDeviceState,
  type UapiTarget,
} from './protocol.js';

export const DEFAULT_SOCKET_DIR = '/var/run/wireguard';

export function socketDir(): string {
  return process.env.WG_SOCKET_DIR ?? DEFAULT_SOCKET_DIR;
}

export function socketPath(ifname: string, dir = socketDir()): string {
  return join(dir, `${ifname}.sock`);
}

export interface UapiHandler {
  state(): UapiDeviceState;
  target: UapiTarget;
  /** Errors of rejected `set` lines, for the daemon's log (never contains key material). */
  onError?(message: string): void;
}

/** A `set` line longer than this is hostile; wg(8) never writes more than ~100 bytes per line. */
const MAX_LINE = 4096;

export class UapiServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private watcher: FSWatcher | null = null;
  private ino = 0;
  private closed = false;
  /** Operations from all connections run one at a time, like wireguard-go's ipcMutex. */
  private lock: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly handler: UapiHandler,
  ) {
    this.server = createServer({ allowHalfOpen: true }, (s) => this.connection(s));
  }

  static async listen(ifname: string, handler: UapiHandler, dir = socketDir()): Promise<UapiServer> {
    // The directory is created private if it does not exist yet; an existing one keeps its mode
    // because other daemons (wireguard-go) may share it. The socket itself is always 0700: whoever
    // can connect can read the private key.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = socketPath(ifname, dir);
    const srv = new UapiServer(path, handler);
    await srv.bindPath();
    return srv;
  }

  private async bindPath(): Promise<void> {
    const tryListen = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const onErr = (e: Error): void => reject(e);
        this.server.once('error', onErr);
        // umask 077 while binding closes the window in which the socket exists with default mode.
        const old = process.umask(0o077);
        try {
          this.server.listen(this.path, () => {
            this.server.off('error', onErr);
            resolve();
          });
        } finally {
          process.umask(old);
        }
      });
    try {
      await tryListen();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
      // A stale socket from a process that died; refuse only if something still answers on it.
      if (await answers(this.path)) throw new Error(`${this.path} is in use by a running daemon`);
      unlinkSync(this.path);
      await tryListen();
    }
    chmodSync(this.path, 0o700);
    this.ino = lstatSync(this.path).ino;
  }

  /**
   * Calls `cb` once when the socket file is removed or replaced - `wg-quick down` deletes it to stop
   * a userspace implementation (wg-quick(8), del_if). Polled as well as watched: inotify events on
   * the directory are not guaranteed to arrive (e.g. on some overlay file systems).
   */
  onRemoved(cb: () => void): void {
    let fired = false;
    const check = (): void => {
      if (fired || this.closed) return;
      if (!this.stillOurs()) {
        fired = true;
        clearInterval(timer);
        this.watcher?.close();
        cb();
      }
    };
    try {
      this.watcher = watch(join(this.path, '..'), { persistent: false }, check);
    } catch {
      /* polling alone */
    }
    const timer = setInterval(check, 1000);
    timer.unref();
  }

  stillOurs(): boolean {
    try {
      const st = lstatSync(this.path);
      return st.isSocket() && st.ino === this.ino;
    } catch {
      return false;
    }
  }

  /** Stops listening and removes the socket file if it is still ours. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    const ours = this.stillOurs();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    // net.Server unlinks the path on close; remove it ourselves only if it is still ours and remains.
    if (ours && this.stillOurs()) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }

  /** Same cleanup, synchronously, for process 'exit' handlers. */
  closeSync(): void {
    if (this.closed) return;
    if (this.stillOurs()) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
    this.closed = true;
  }

  private connection(sock: Socket): void {
    this.sockets.add(sock);
    sock.setEncoding('utf8');
    let buf = '';
    let ended = false;
    let busy = false;
    let mode: 'op' | 'get' | 'set' = 'op';
    let op: UapiSetOperation | null = null;

    const reply = (body: string, errno: number): void => {
      if (!sock.destroyed && sock.writable) sock.write(`${body}errno=${errno}\n\n`);
    };
    const finishSet = (): void => {
      op!.finish();
      op = null;
      mode = 'op';
      reply('', 0);
    };

    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          if (sock.destroyed) return;
          if (mode === 'get') {
            if (buf.length === 0) break;
            const next = buf[0];
            buf = buf.slice(1);
            mode = 'op';
            if (next !== '\n') reply('', UAPI_ERRNO.INVALID);
            else reply(serializeGet(this.handler.state()), 0);
            continue;
          }
          const nl = buf.indexOf('\n');
          if (nl < 0) {
            if (buf.length > MAX_LINE) {
              sock.destroy();
              return;
            }
            break;
          }
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (mode === 'op') {
            if (line === 'get=1') mode = 'get';
            else if (line === 'set=1') {
              mode = 'set';
              op = new UapiSetOperation(this.handler.target);
            } else {
              // Unknown operation: the reference implementation hangs up without a reply.
              sock.destroy();
              return;
            }
            continue;
          }
          // mode === 'set'
          if (line === '') {
            finishSet();
            continue;
          }
          const current = op!;
          const run = this.lock.then(() => current.line(line));
          this.lock = run.then(
            () => undefined,
            () => undefined,
          );
          try {
            await run;
          } catch (e) {
            const err = e instanceof UapiError ? e : new UapiError(UAPI_ERRNO.UNKNOWN, String(e));
            this.handler.onError?.(err.message);
            op = null;
            mode = 'op';
            reply('', err.errno);
          }
        }
        if (ended) {
          // End of input terminates a `set` like an empty line does.
          if (mode === 'set' && op) finishSet();
          sock.end();
        }
      } finally {
        busy = false;
      }
    };

    sock.on('data', (d: string) => {
      buf += d;
      void pump();
    });
    sock.on('end', () => {
      ended = true;
      void pump();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
