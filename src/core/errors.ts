// Stable error codes. Every failure a client can see carries one of these; each maps to an HTTP
// status for the HTTP/HTTPS inbounds, a reply code for SOCKS5 (RFC 1928 §6) and SOCKS4 (0x5B), and a
// log line that tells the operator what to do.

export type ErrorCode =
  | 'E_AUTH_REQUIRED'
  | 'E_AUTH'
  | 'E_AUTH_THROTTLED'
  | 'E_POLICY_DENIED'
  | 'E_DEST_FORBIDDEN'
  | 'E_BAD_REQUEST'
  | 'E_HEADER_TOO_LARGE'
  | 'E_PROTOCOL'
  | 'E_UNSUPPORTED'
  | 'E_DNS'
  | 'E_UPSTREAM_REFUSED'
  | 'E_UPSTREAM_UNREACHABLE'
  | 'E_UPSTREAM_TIMEOUT'
  | 'E_UPSTREAM_RESET'
  | 'E_TIMEOUT'
  | 'E_LIMIT'
  | 'E_QUOTA'
  | 'E_SHUTTING_DOWN'
  | 'E_CONFIG'
  | 'E_INTERNAL'
  // Management plane (control service, REST API, CLI): not seen on the proxy data path.
  | 'E_NOT_FOUND'
  | 'E_CONFLICT'
  | 'E_INVALID'
  | 'E_FORBIDDEN';

interface CodeInfo {
  http: number;
  socks5: number;
  hint: string;
}

// SOCKS5 replies (RFC 1928 §6): 0x01 general failure, 0x02 not allowed by ruleset, 0x03 network
// unreachable, 0x04 host unreachable, 0x05 connection refused, 0x06 TTL expired, 0x07 command not
// supported, 0x08 address type not supported.
const INFO: Record<ErrorCode, CodeInfo> = {
  E_AUTH_REQUIRED: { http: 407, socks5: 0x02, hint: 'the client must send credentials' },
  E_AUTH: { http: 407, socks5: 0x02, hint: 'wrong user name or password' },
  E_AUTH_THROTTLED: {
    http: 429,
    socks5: 0x02,
    hint: 'too many failed logins from this address; wait and retry',
  },
  E_POLICY_DENIED: { http: 403, socks5: 0x02, hint: 'a routing rule rejects this destination' },
  E_DEST_FORBIDDEN: {
    http: 403,
    socks5: 0x02,
    hint: 'loopback, link-local, private and own addresses are refused; allow them with allow_destinations or a rule',
  },
  E_BAD_REQUEST: { http: 400, socks5: 0x01, hint: 'the client sent a malformed request' },
  E_HEADER_TOO_LARGE: { http: 431, socks5: 0x01, hint: 'request header exceeds limits.max_header_bytes' },
  E_PROTOCOL: { http: 400, socks5: 0x01, hint: 'the client does not speak the protocol of this listener' },
  E_UNSUPPORTED: { http: 501, socks5: 0x07, hint: 'the command or address type is not supported' },
  E_DNS: { http: 502, socks5: 0x04, hint: 'the destination host name does not resolve' },
  E_UPSTREAM_REFUSED: { http: 502, socks5: 0x05, hint: 'the destination refused the connection' },
  E_UPSTREAM_UNREACHABLE: { http: 502, socks5: 0x03, hint: 'no route to the destination' },
  E_UPSTREAM_TIMEOUT: {
    http: 504,
    socks5: 0x04,
    hint: 'the destination did not answer within timeouts.connect',
  },
  E_UPSTREAM_RESET: { http: 502, socks5: 0x01, hint: 'the destination closed the connection' },
  E_TIMEOUT: { http: 408, socks5: 0x06, hint: 'the client was too slow (timeouts.handshake)' },
  E_LIMIT: { http: 503, socks5: 0x01, hint: 'a connection limit is reached (limits.*)' },
  E_QUOTA: { http: 403, socks5: 0x02, hint: "the user's data quota or tier is used up or expired" },
  E_SHUTTING_DOWN: { http: 503, socks5: 0x01, hint: 'the gateway is draining for shutdown' },
  E_CONFIG: { http: 500, socks5: 0x01, hint: 'fix the configuration' },
  E_INTERNAL: { http: 500, socks5: 0x01, hint: 'a bug; please report it with the log line' },
  E_NOT_FOUND: { http: 404, socks5: 0x01, hint: 'no such user, tier, token or credential' },
  E_CONFLICT: {
    http: 409,
    socks5: 0x01,
    hint: 'the name is taken, the object is in use, or it is defined in the configuration file',
  },
  E_INVALID: { http: 400, socks5: 0x01, hint: 'an argument is malformed; the message says which' },
  E_FORBIDDEN: { http: 403, socks5: 0x02, hint: "the token's scope does not allow this operation" },
};

export class FerryError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'FerryError';
  }
  get httpStatus(): number {
    return INFO[this.code].http;
  }
  get socks5Reply(): number {
    return INFO[this.code].socks5;
  }
  get hint(): string {
    return INFO[this.code].hint;
  }
}

export function httpStatusOf(code: ErrorCode): number {
  return INFO[code].http;
}

/** Maps a Node socket error (ECONNREFUSED, ...) from a dial to a stable code. */
export function fromDialError(err: unknown, what: string): FerryError {
  if (err instanceof FerryError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return new FerryError('E_UPSTREAM_REFUSED', `${what}: connection refused`, { cause: err });
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
      return new FerryError('E_UPSTREAM_UNREACHABLE', `${what}: ${code}`, { cause: err });
    case 'ETIMEDOUT':
      return new FerryError('E_UPSTREAM_TIMEOUT', `${what}: timed out`, { cause: err });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
    case 'EAI_FAIL':
      return new FerryError('E_DNS', `${what}: name does not resolve`, { cause: err });
    case 'ECONNRESET':
    case 'EPIPE':
      return new FerryError('E_UPSTREAM_RESET', `${what}: connection reset`, { cause: err });
    default:
      return new FerryError('E_UPSTREAM_UNREACHABLE', `${what}: ${code ?? String(err)}`, { cause: err });
  }
}

export function asFerryError(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  return new FerryError('E_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}
