// The SOCKS handshake of one client connection, read incrementally: bytes are accumulated until the
// current frame is complete (the wire*.ts parsers say how many they need), so a frame split across
// TCP segments — or cut off — is handled the same as one that arrives whole. The first byte picks the
// dialect: 0x05 is a SOCKS5 greeting (RFC 1928 §3), 0x04 a SOCKS4/4a request.
//
// The whole handshake runs under one deadline (timeouts.handshakeMs) counted from the start, not reset
// by incoming bytes, so a client trickling one byte at a time cannot hold the connection open (the
// time our own password check takes is not counted against the client). Once the
// request is parsed every listener and the timer are removed and the socket is handed, paused, to
// the command (request.ts); nothing of this object stays reachable from a relayed session.
import type { Socket } from 'node:net';
import type { Authenticator } from '../../auth/authenticator.js';
import { asFerryError, FerryError } from '../../core/errors.js';
import type { Destination } from '../../core/session.js';
import type { InboundContext } from '../context.js';
import { logBadClient, logDenied } from '../dispatch.js';
import {
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  METHOD_USER_PASS,
  SOCKS4_REJECTED,
  SOCKS4_VERSION,
  SOCKS5_VERSION,
  USER_PASS_FAILURE,
  USER_PASS_SUCCESS,
  USER_PASS_VERSION,
} from './constants.js';
import { closeWith, failureReply, ignoreError, type SocksVersion } from './io.js';
import { runRequest } from './request.js';
import { parseRequest4, reply4, type Request4 } from './wire4.js';
import { parseGreeting, parseRequest5, parseUserPass } from './wire5.js';

// Fixed replies, shared by all connections (never mutated).
const SELECT_NO_AUTH = Buffer.from([SOCKS5_VERSION, METHOD_NO_AUTH]);
const SELECT_USER_PASS = Buffer.from([SOCKS5_VERSION, METHOD_USER_PASS]);
const NO_ACCEPTABLE_METHOD = Buffer.from([SOCKS5_VERSION, METHOD_NONE_ACCEPTABLE]);
const AUTH_OK = Buffer.from([USER_PASS_VERSION, USER_PASS_SUCCESS]);
const AUTH_FAILED = Buffer.from([USER_PASS_VERSION, USER_PASS_FAILURE]);
const SOCKS4_REJECT = reply4(SOCKS4_REJECTED);

// What the handshake waits for next.
const P_VERSION = 0;
const P_GREETING = 1;
const P_USER_PASS = 2;
const P_REQUEST5 = 3;
const P_REQUEST4 = 4;
/** An asynchronous step (password check) is running; the socket is paused. */
const P_WAIT = 5;
const P_DONE = 6;

export class Handshake {
  private buf: Buffer | null = null;
  private off = 0;
  private phase = P_VERSION;
  private version: SocksVersion = 5;
  private auth: Authenticator | null = null;
  private user: string | null = null;
  private request4: Request4 | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deadline = 0;
  /** Handshake time the client had left when a password check started. */
  private left = 0;

  constructor(
    private readonly ctx: InboundContext,
    private readonly socket: Socket,
  ) {}

  start(head?: Buffer): void {
    const s = this.socket;
    if (s.destroyed) return;
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('error', this.onError);
    s.on('close', this.onClose);
    const ms = this.ctx.timeouts().handshakeMs;
    this.deadline = Date.now() + ms;
    this.timer = setTimeout(this.onTimeout, ms);
    // The mixed inbound pauses the socket after sniffing; bytes it read arrive as `head`.
    s.resume();
    if (head && head.length > 0) this.onData(head);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.phase === P_DONE) return;
    if (this.buf === null || this.off >= this.buf.length) {
      this.buf = chunk;
      this.off = 0;
    } else {
      // A frame split across reads: rare, and bounded by the largest frame (parsers enforce limits).
      this.buf = Buffer.concat([this.buf.subarray(this.off), chunk]);
      this.off = 0;
    }
    if (this.phase !== P_WAIT) this.pump();
  };

  private pump(): void {
    try {
      while (this.buf !== null && this.off < this.buf.length && this.step());
    } catch (err) {
      const fe = asFerryError(err);
      // In the request phase the protocols have a reply for a refused request; send it, then close.
      const reply =
        this.phase === P_REQUEST5 && fe.code !== 'E_PROTOCOL'
          ? failureReply(5, fe)
          : this.phase === P_REQUEST4 && fe.code !== 'E_PROTOCOL'
            ? SOCKS4_REJECT
            : undefined;
      this.fail(fe, reply);
    }
  }

  /** Consumes one frame if complete; false when more bytes are needed or the handshake moved on. */
  private step(): boolean {
    const b = this.buf!;
    const o = this.off;
    switch (this.phase) {
      case P_VERSION: {
        const v = b[o];
        if (v === SOCKS5_VERSION) this.phase = P_GREETING;
        else if (v === SOCKS4_VERSION) this.phase = P_REQUEST4;
        else
          throw new FerryError(
            'E_PROTOCOL',
            `first byte 0x${v!.toString(16).padStart(2, '0')} is not SOCKS version 4 or 5`,
          );
        this.version = v;
        return true;
      }
      case P_GREETING: {
        const g = parseGreeting(b, o);
        if (!g) return false;
        this.off += g.length;
        // RFC 1928 §3: the server picks one offered method, or replies 0xFF and the connection ends.
        // No-auth is offered only by a listener without authentication (and then it is the only one).
        this.auth = this.ctx.auth();
        if (this.auth ? !g.userPass : !g.noAuth) {
          const err = this.auth
            ? new FerryError(
                'E_AUTH_REQUIRED',
                'client did not offer username/password authentication (RFC 1929)',
              )
            : new FerryError(
                'E_UNSUPPORTED',
                'client did not offer "no authentication", the only method of this listener',
              );
          this.finish(NO_ACCEPTABLE_METHOD);
          if (this.auth) logDenied(this.ctx, null, err);
          else logBadClient(this.ctx, err, this.source());
          return false;
        }
        this.socket.write(this.auth ? SELECT_USER_PASS : SELECT_NO_AUTH);
        this.phase = this.auth ? P_USER_PASS : P_REQUEST5;
        return true;
      }
      case P_USER_PASS: {
        const a = parseUserPass(b, o);
        if (!a) return false;
        this.off += a.length;
        this.checkPassword(a.user, a.password);
        return false;
      }
      case P_REQUEST5: {
        const r = parseRequest5(b, o);
        if (!r) return false;
        this.off += r.length;
        this.complete(r.cmd, r.dest);
        return false;
      }
      case P_REQUEST4: {
        const r = parseRequest4(b, o);
        if (!r) return false;
        this.off += r.length;
        const auth = this.ctx.auth();
        if (!auth) {
          this.complete(r.cmd, r.dest);
          return false;
        }
        // SOCKS4 has no password. With authentication on, the USERID field must carry
        // "user:password" (split at the first colon); a bare user id is refused.
        const colon = r.userId.indexOf(':');
        if (colon < 0) {
          this.finish(SOCKS4_REJECT);
          logDenied(
            this.ctx,
            null,
            new FerryError('E_AUTH_REQUIRED', 'SOCKS4 USERID must be "user:password" on this listener'),
          );
          return false;
        }
        this.auth = auth;
        this.request4 = r;
        this.checkPassword(r.userId.slice(0, colon), r.userId.slice(colon + 1));
        return false;
      }
      default:
        return false;
    }
  }

  private checkPassword(user: string, password: string): void {
    this.phase = P_WAIT;
    this.socket.pause();
    // The deadline is for the client: stop its clock while our password hash runs (it can queue behind
    // other logins in the thread pool), and give the client the rest of its time afterwards.
    this.left = Math.max(0, this.deadline - Date.now());
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.auth!.authenticate(user, password, this.socket.remoteAddress ?? '').then(
      this.onAuthOk,
      this.onAuthFailed,
    );
  }

  private readonly onAuthOk = (name: string): void => {
    if (this.phase !== P_WAIT) return; // closed or timed out meanwhile
    this.user = name;
    if (this.version === 4) {
      const r = this.request4!;
      this.request4 = null;
      this.complete(r.cmd, r.dest);
      return;
    }
    this.socket.write(AUTH_OK);
    this.phase = P_REQUEST5;
    this.deadline = Date.now() + this.left;
    this.timer = setTimeout(this.onTimeout, this.left);
    this.socket.resume();
    this.pump();
  };

  private readonly onAuthFailed = (err: unknown): void => {
    if (this.phase !== P_WAIT) return;
    // RFC 1929 §2: a non-zero status, then the server closes the connection.
    this.finish(this.version === 5 ? AUTH_FAILED : SOCKS4_REJECT);
    logDenied(this.ctx, null, asFerryError(err));
  };

  /** Hands the parsed request and any bytes the client already sent after it to the command. */
  private complete(cmd: number, dest: Destination): void {
    const b = this.buf!;
    const leftover = this.off < b.length ? b.subarray(this.off) : null;
    const { version, user } = this;
    this.socket.pause();
    this.stop();
    runRequest(this.ctx, this.socket, { version, cmd, dest, user, leftover });
  }

  private readonly onTimeout = (): void => {
    this.timer = null;
    if (this.phase === P_DONE) return;
    this.fail(
      new FerryError('E_TIMEOUT', `handshake not finished within ${this.ctx.timeouts().handshakeMs} ms`),
    );
  };

  private readonly onEnd = (): void => {
    if (this.phase === P_DONE) return;
    // A client that closes between frames (a port probe, a client giving up) is not an error; one
    // that closes inside a frame sent a truncated frame.
    if (this.buf !== null && this.off < this.buf.length) {
      this.fail(new FerryError('E_PROTOCOL', 'connection closed inside a SOCKS frame (truncated)'));
    } else {
      this.stop();
      this.socket.destroy();
    }
  };

  private readonly onError = (): void => {
    // The socket is already destroyed; 'close' follows. Nothing useful to tell the client.
    this.stop();
  };

  private readonly onClose = (): void => {
    this.stop();
  };

  private source(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? 0}`;
  }

  private fail(err: FerryError, reply?: Buffer): void {
    logBadClient(this.ctx, err, this.source());
    if (reply) this.finish(reply);
    else {
      this.stop();
      this.socket.destroy();
    }
  }

  /** Ends the connection after a last reply. */
  private finish(reply: Buffer): void {
    this.stop();
    closeWith(this.socket, reply);
  }

  /** Detaches from the socket: no listener, timer or buffer of the handshake survives this. */
  private stop(): void {
    if (this.phase === P_DONE) return;
    this.phase = P_DONE;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.buf = null;
    const s = this.socket;
    s.removeListener('data', this.onData);
    s.removeListener('end', this.onEnd);
    s.removeListener('error', this.onError);
    s.removeListener('close', this.onClose);
    // Until the command attaches its own, an error must still have a listener.
    s.on('error', ignoreError);
  }
}
