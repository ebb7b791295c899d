// Wire layouts of the four message types (§5.4.2 - §5.4.7). All integers little-endian except where
// noted; every message starts with a type byte and three reserved zero bytes.
//
//   initiation (148): type=1 | reserved[3] | sender u32 | ephemeral[32] | static[32+16] | timestamp[12+16] | mac1[16] | mac2[16]
//   response    (92): type=2 | reserved[3] | sender u32 | receiver u32 | ephemeral[32] | empty[0+16] | mac1[16] | mac2[16]
//   cookie      (64): type=3 | reserved[3] | receiver u32 | nonce[24] | cookie[16+16]
//   transport (32+n): type=4 | reserved[3] | receiver u32 | counter u64 | packet[n+16]

import {
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  RESPONSE_SIZE,
  TRANSPORT_MIN_SIZE,
} from './constants.js';

export const Initiation = {
  sender: 4,
  ephemeral: 8,
  static: 40,
  timestamp: 88,
  mac1: 116,
  mac2: 132,
} as const;

export const Response = {
  sender: 4,
  receiver: 8,
  ephemeral: 12,
  empty: 44,
  mac1: 60,
  mac2: 76,
} as const;

export const CookieReply = {
  receiver: 4,
  nonce: 8,
  cookie: 32,
} as const;

export const Transport = {
  receiver: 4,
  counter: 8,
  payload: 16,
} as const;

/**
 * Returns the message type if `data` is a well-formed message of a known type (right size, reserved
 * bytes zero), else 0. Nothing else is read before authentication.
 */
export function messageType(data: Uint8Array): number {
  if (data.length < 4 || data[1] !== 0 || data[2] !== 0 || data[3] !== 0) return 0;
  const t = data[0]!;
  switch (t) {
    case MESSAGE_INITIATION:
      return data.length === INITIATION_SIZE ? t : 0;
    case MESSAGE_RESPONSE:
      return data.length === RESPONSE_SIZE ? t : 0;
    case MESSAGE_COOKIE_REPLY:
      return data.length === COOKIE_REPLY_SIZE ? t : 0;
    case MESSAGE_TRANSPORT:
      return data.length >= TRANSPORT_MIN_SIZE ? t : 0;
    default:
      return 0;
  }
}

export function readU32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Writes the type byte and zeroes the reserved bytes. */
export function writeHeader(b: Uint8Array, type: number): void {
  b[0] = type;
  b[1] = b[2] = b[3] = 0;
}

/** Offset of mac1 in a handshake message (mac2 follows it); -1 for other types. */
export function mac1Offset(type: number): number {
  return type === MESSAGE_INITIATION ? Initiation.mac1 : type === MESSAGE_RESPONSE ? Response.mac1 : -1;
}
