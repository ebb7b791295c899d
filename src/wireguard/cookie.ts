// DoS mitigation of §5.3 / §5.4.4 / §5.4.7.
//
// Every handshake message carries mac1 = MAC(HASH(LABEL_MAC1 || Spub_receiver), msg[..mac1]), which
// proves the sender knows the receiver's public key, so a responder can drop garbage without any DH.
// Under load, a responder additionally requires mac2 = MAC(cookie, msg[..mac2]) where
// cookie = MAC(Rm, source address) and Rm is a secret changed every two minutes. A sender without a
// valid cookie gets one in a cookie reply, encrypted to it with XChaCha20-Poly1305 under
// HASH(LABEL_COOKIE || Spub_responder) and bound to the mac1 it sent (so only the real sender of that
// message can use the reply, and an off-path attacker cannot forge one).

import {
  AEAD_TAG_SIZE,
  COOKIE_LIFETIME,
  COOKIE_NONCE_SIZE,
  COOKIE_REPLY_SIZE,
  COOKIE_SECRET_LIFETIME,
  COOKIE_SIZE,
  LABEL_COOKIE,
  LABEL_MAC1,
  MAC_SIZE,
  MESSAGE_COOKIE_REPLY,
} from './constants.js';
import { equalBytes, hash, mac, wipe, xaeadOpen, xaeadSeal } from './crypto.js';
import { CookieReply, readU32, writeHeader, writeU32 } from './messages.js';

const encoder = new TextEncoder();
const LABEL_MAC1_BYTES = encoder.encode(LABEL_MAC1);
const LABEL_COOKIE_BYTES = encoder.encode(LABEL_COOKIE);

export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_MAC1_BYTES, publicKey);
}

export function cookieKey(publicKey: Uint8Array): Uint8Array {
  return hash(LABEL_COOKIE_BYTES, publicKey);
}

/** Responder side: verifies mac1/mac2 of messages addressed to us and issues cookie replies. */
export class CookieChecker {
  private mac1Key: Uint8Array;
  private encryptionKey: Uint8Array;
  private secret: Uint8Array | null = null;
  private secretSetAt = -Infinity;

  constructor(
    ourPublicKey: Uint8Array,
    private readonly random: (n: number) => Uint8Array,
  ) {
    this.mac1Key = mac1Key(ourPublicKey);
    this.encryptionKey = cookieKey(ourPublicKey);
  }

  /** mac1 is at `mac1Offset`; it covers everything before it. */
  checkMac1(msg: Uint8Array, mac1Offset: number): boolean {
    const expected = mac(this.mac1Key, msg.subarray(0, mac1Offset));
    return equalBytes(expected, msg.subarray(mac1Offset, mac1Offset + MAC_SIZE));
  }

  /** mac2 covers everything up to itself, mac1 included. A stale secret makes every mac2 invalid. */
  checkMac2(msg: Uint8Array, mac1Offset: number, source: Uint8Array, now: number): boolean {
    if (this.secret === null || now - this.secretSetAt >= COOKIE_SECRET_LIFETIME) return false;
    const mac2Offset = mac1Offset + MAC_SIZE;
    const cookie = mac(this.secret, source);
    const expected = mac(cookie, msg.subarray(0, mac2Offset));
    return equalBytes(expected, msg.subarray(mac2Offset, mac2Offset + MAC_SIZE));
  }

  /** Builds the 64-byte cookie reply to `msg` (whose sender index is `senderIndex`) from `source`. */
  createReply(
    msg: Uint8Array,
    mac1Offset: number,
    senderIndex: number,
    source: Uint8Array,
    now: number,
  ): Uint8Array {
    if (this.secret === null || now - this.secretSetAt >= COOKIE_SECRET_LIFETIME) {
      wipe(this.secret);
      this.secret = Uint8Array.from(this.random(32));
      this.secretSetAt = now;
    }
    const cookie = mac(this.secret, source);
    const nonce = Uint8Array.from(this.random(COOKIE_NONCE_SIZE));
    const sealed = xaeadSeal(
      this.encryptionKey,
      nonce,
      cookie,
      msg.subarray(mac1Offset, mac1Offset + MAC_SIZE),
    );
    const reply = new Uint8Array(COOKIE_REPLY_SIZE);
    writeHeader(reply, MESSAGE_COOKIE_REPLY);
    writeU32(reply, CookieReply.receiver, senderIndex);
    reply.set(nonce, CookieReply.nonce);
    reply.set(sealed, CookieReply.cookie);
    return reply;
  }
}

/** Initiator side (one per peer): stamps mac1/mac2 on our handshake messages and takes cookie replies. */
export class CookieGenerator {
  private readonly mac1Key: Uint8Array;
  private readonly decryptionKey: Uint8Array;
  private cookie: Uint8Array | null = null;
  private cookieSetAt = -Infinity;
  /** mac1 of the last handshake message we sent; a cookie reply must be bound to it. */
  private lastMac1: Uint8Array | null = null;

  constructor(peerPublicKey: Uint8Array) {
    this.mac1Key = mac1Key(peerPublicKey);
    this.decryptionKey = cookieKey(peerPublicKey);
  }

  /** Writes mac1 and (with a fresh cookie) mac2 in place; mac2 stays zero otherwise. */
  addMacs(msg: Uint8Array, mac1Offset: number, now: number): void {
    const mac2Offset = mac1Offset + MAC_SIZE;
    const m1 = mac(this.mac1Key, msg.subarray(0, mac1Offset));
    msg.set(m1, mac1Offset);
    this.lastMac1 = m1;
    if (this.cookie !== null && now - this.cookieSetAt < COOKIE_LIFETIME) {
      msg.set(mac(this.cookie, msg.subarray(0, mac2Offset)), mac2Offset);
    } else {
      msg.fill(0, mac2Offset, mac2Offset + MAC_SIZE);
    }
  }

  /** Accepts a cookie reply for our last message; false if it does not authenticate. */
  consumeReply(reply: Uint8Array, now: number): boolean {
    if (this.lastMac1 === null) return false;
    const nonce = reply.subarray(CookieReply.nonce, CookieReply.nonce + COOKIE_NONCE_SIZE);
    const sealed = reply.subarray(CookieReply.cookie, CookieReply.cookie + COOKIE_SIZE + AEAD_TAG_SIZE);
    const cookie = xaeadOpen(this.decryptionKey, nonce, sealed, this.lastMac1);
    if (cookie === null) return false;
    wipe(this.cookie);
    this.cookie = cookie;
    this.cookieSetAt = now;
    // One reply per message: a second reply for the same mac1 is not accepted.
    this.lastMac1 = null;
    return true;
  }

  get hasCookie(): boolean {
    return this.cookie !== null;
  }
}

export function cookieReplyReceiver(reply: Uint8Array): number {
  return readU32(reply, CookieReply.receiver);
}
