// Message body length (RFC 9112 §6.3), decided once per message from the parsed head. Requests are
// judged strictly, because an intermediary that frames a request differently from the origin is
// the definition of request smuggling; responses are judged by the rules a client would apply.
import { FerryError } from '../../core/errors.js';
import { appendTokens, BODY_CHUNKED, BODY_CLOSE, BODY_LENGTH, BODY_NONE, type Head } from './head.js';

/** Sets h.bodyKind / h.bodyLength for a request; throws E_BAD_REQUEST when the framing is unsafe. */
export function frameRequest(h: Head): void {
  if (h.transferEncoding !== null) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if (h.minor === 0) throw new FerryError('E_BAD_REQUEST', 'Transfer-Encoding in an HTTP/1.0 request');
    // RFC 9112 §6.1: both present "ought to be handled as an error" — it is the classic smuggling vector.
    if (h.contentLength >= 0)
      throw new FerryError('E_BAD_REQUEST', 'both Content-Length and Transfer-Encoding');
    // RFC 9112 §6.3 rule 4: chunked not final in a request → length unknowable → 400.
    if (!chunkedIsFinal(h.transferEncoding)) {
      throw new FerryError('E_BAD_REQUEST', 'Transfer-Encoding does not end in chunked');
    }
    h.bodyKind = BODY_CHUNKED;
  } else if (h.contentLength > 0) {
    h.bodyKind = BODY_LENGTH;
    h.bodyLength = h.contentLength;
  } else {
    h.bodyKind = BODY_NONE; // rule 7: no CL, no TE → no body
  }
}

/** Sets h.bodyKind / h.bodyLength for a response to a request with method `method`. */
export function frameResponse(h: Head, method: string): void {
  // Rule 1: HEAD responses, 1xx, 204 and 304 end at the head whatever their fields say.
  if (method === 'HEAD' || h.status < 200 || h.status === 204 || h.status === 304) {
    h.bodyKind = BODY_NONE;
  } else if (h.transferEncoding !== null) {
    // Rule 4 (response): chunked final → chunked (Content-Length, if any, is overridden and the
    // caller drops it); otherwise read until close. HTTP/1.0 with TE is faulty (§6.1): until close.
    h.bodyKind = h.minor === 1 && chunkedIsFinal(h.transferEncoding) ? BODY_CHUNKED : BODY_CLOSE;
  } else if (h.contentLength >= 0) {
    h.bodyKind = h.contentLength === 0 ? BODY_NONE : BODY_LENGTH;
    h.bodyLength = h.contentLength;
  } else {
    h.bodyKind = BODY_CLOSE; // rule 8
  }
}

/** True when the last transfer coding is chunked and chunked appears only once (RFC 9112 §6.1). */
export function chunkedIsFinal(te: string): boolean {
  const codings = appendTokens(null, te);
  const n = codings.length;
  if (n === 0 || codings[n - 1] !== 'chunked') return false;
  for (let i = 0; i < n - 1; i++) if (codings[i] === 'chunked') return false;
  return true;
}
