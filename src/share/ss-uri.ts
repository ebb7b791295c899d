// SIP002 share links: ss://userinfo@host:port[/][?plugin=…][#tag].
// userinfo is the URL-safe base64 of "method:password" for AEAD methods, and the percent-encoded
// "method:password" for 2022 methods (SIP002, as amended for SIP022; the 2022 "Server Configuration
// URL" document gives the same form). Parsing also accepts the legacy whole-body form
// ss://base64(method:password@host:port)#tag that older clients still print.
import { FerryError } from '../core/errors.js';
import { methodInfo } from '../crypto/ss/methods.js';

export interface SsLink {
  method: string;
  password: string;
  host: string;
  port: number;
  /** The fragment: a display name. */
  tag?: string;
  /** SIP003 plugin spec, when present (Ferry does not run plugins). */
  plugin?: string;
}

function b64urlEncode(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

function b64Decode(s: string): string | null {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return null;
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
}

export function formatSsUri(link: SsLink): string {
  const m = methodInfo(link.method);
  const userinfo =
    m.edition === '2022'
      ? `${encodeURIComponent(m.name)}:${encodeURIComponent(link.password)}`
      : b64urlEncode(`${m.name}:${link.password}`);
  const host = link.host.includes(':') ? `[${link.host}]` : link.host;
  const plugin = link.plugin ? `/?plugin=${encodeURIComponent(link.plugin)}` : '';
  const tag = link.tag ? `#${encodeURIComponent(link.tag)}` : '';
  return `ss://${userinfo}@${host}:${link.port}${plugin}${tag}`;
}

export function parseSsUri(uri: string): SsLink {
  const bad = (why: string): FerryError => new FerryError('E_CONFIG', `not a usable ss:// link: ${why}`);
  const text = uri.trim();
  if (!/^ss:\/\//i.test(text)) throw bad('it must start with ss://');
  let rest = text.slice(5);
  let tag: string | undefined;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    tag = decodeURIComponent(rest.slice(hash + 1));
    rest = rest.slice(0, hash);
  }
  // Legacy form: the whole body is base64 and has no '@' before decoding.
  if (!rest.includes('@')) {
    const decoded = b64Decode(rest.replace(/\/$/, ''));
    if (!decoded || !decoded.includes('@')) throw bad('no user info');
    rest = decoded;
    const at = rest.lastIndexOf('@');
    const cred = rest.slice(0, at);
    const colon = cred.indexOf(':');
    if (colon < 0) throw bad('no method:password');
    return finish(cred.slice(0, colon), cred.slice(colon + 1), rest.slice(at + 1), undefined, tag);
  }
  let url: URL;
  try {
    url = new URL(`ss://${rest}`);
  } catch {
    throw bad('malformed');
  }
  let method: string;
  let password: string;
  if (url.password !== '' || rest.slice(0, rest.indexOf('@')).includes(':')) {
    method = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } else {
    const decoded = b64Decode(decodeURIComponent(url.username));
    const colon = decoded?.indexOf(':') ?? -1;
    if (!decoded || colon < 0) throw bad('user info is neither base64 nor method:password');
    method = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  const plugin = url.searchParams.get('plugin') ?? undefined;
  return finish(method, password, `${url.hostname}:${url.port}`, plugin, tag);

  function finish(
    m: string,
    p: string,
    hostPort: string,
    plug: string | undefined,
    t: string | undefined,
  ): SsLink {
    const info = methodInfo(m); // throws on unknown methods
    const hp = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(hostPort);
    if (!hp) throw bad('no host:port');
    const port = Number(hp[3]);
    if (port < 1 || port > 65535) throw bad('port out of range');
    if (p.length === 0) throw bad('empty password');
    return {
      method: info.name,
      password: p,
      host: hp[1] ?? hp[2]!,
      port,
      ...(t ? { tag: t } : {}),
      ...(plug ? { plugin: plug } : {}),
    };
  }
}
