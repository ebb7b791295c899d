// Proxy-Authorization: Basic (RFC 7617, carried as in RFC 9110 §11.7.2). Only parsing lives here;
// checking the password is the Authenticator's job.

export interface BasicCredentials {
  user: string;
  password: string;
}

/** Parses "Basic <base64(user:pass)>"; null when the scheme is not Basic or the value is malformed. */
export function parseBasic(value: string): BasicCredentials | null {
  // auth-scheme is case-insensitive (RFC 9110 §11.1), followed by 1*SP and token68.
  if (value.length < 7 || value.slice(0, 5).toLowerCase() !== 'basic') return null;
  let i = 5;
  if (value.charCodeAt(i) !== 0x20) return null;
  while (value.charCodeAt(i) === 0x20) i++;
  const b64 = value.slice(i);
  if (!isBase64(b64)) return null;
  // RFC 7617 §2.1: the user-id cannot contain a colon, so the first colon separates the password.
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Strict base64 (RFC 4648 §4) with padding; Buffer.from alone would skip invalid characters. */
function isBase64(s: string): boolean {
  const n = s.length;
  if (n === 0 || n % 4 !== 0) return false;
  let pad = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3d) {
      pad++;
      if (pad > 2) return false;
      continue;
    }
    if (pad > 0) return false;
    const ok =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2b ||
      c === 0x2f;
    if (!ok) return false;
  }
  return true;
}
