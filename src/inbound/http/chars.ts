// Byte classes of the HTTP grammar, as lookup tables so the parsers test a byte with one array read.

/** tchar (RFC 9110 §5.6.2): the characters of a token (method, field name, transfer coding). */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

/**
 * Bytes allowed inside a field value (RFC 9110 §5.5): field-vchar (VCHAR / obs-text) plus SP and
 * HTAB. Every other control byte — NUL, bare CR, bare LF, DEL — is refused: recipients that disagree
 * about such bytes are how header injection and request smuggling work.
 */
export const FIELD_BYTE = new Uint8Array(256);
FIELD_BYTE[0x09] = 1;
for (let c = 0x20; c <= 0xff; c++) if (c !== 0x7f) FIELD_BYTE[c] = 1;

/** Bytes allowed in a request-target: visible ASCII only (RFC 3986 characters; no SP, no CTL, no obs-text). */
export const TARGET_BYTE = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET_BYTE[c] = 1;

/** HEXDIG value, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c;
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c;

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
