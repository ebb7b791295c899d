// The Noise_IKpsk2 handshake of §5.4.2 - §5.4.5, as pure functions over a per-peer Handshake state.
// No clocks are read and no randomness is drawn here: callers pass the time, the TAI64N wall time and
// the ephemeral private key, which keeps the whole exchange reproducible in tests.
//
// mac1/mac2 are not written or checked here (cookie.ts does that), so a message leaving
// createInitiation/createResponse still has zero MAC fields.

import {
  AEAD_TAG_SIZE,
  CONSTRUCTION,
  HANDSHAKE_INITIATION_RATE,
  IDENTIFIER,
  INITIATION_SIZE,
  KEY_SIZE,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  RESPONSE_SIZE,
  TAI64N_SIZE,
} from './constants.js';
import { aeadOpen, aeadSeal, dh, EMPTY, hash, kdf1, kdf2, kdf3, publicKeyFrom, wipe } from './crypto.js';
import { Initiation, readU32, Response, writeHeader, writeU32 } from './messages.js';
import { compareTai64n, tai64n } from './tai64n.js';

const encoder = new TextEncoder();
/** C0 = HASH(CONSTRUCTION) and H0 = HASH(C0 || IDENTIFIER): the same for every handshake. */
const INITIAL_CHAIN_KEY = hash(encoder.encode(CONSTRUCTION));
const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, encoder.encode(IDENTIFIER));

export const enum HandshakeState {
  Zeroed = 0,
  InitiationCreated = 1,
  InitiationConsumed = 2,
  ResponseCreated = 3,
  ResponseConsumed = 4,
}

export interface StaticIdentity {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** Handshake state for one peer (both roles; a peer is in at most one handshake at a time). */
export class Handshake {
  state: HandshakeState = HandshakeState.Zeroed;
  hash: Uint8Array = new Uint8Array(KEY_SIZE);
  chainKey: Uint8Array = new Uint8Array(KEY_SIZE);
  localEphemeral: Uint8Array | null = null;
  remoteEphemeral: Uint8Array | null = null;
  localIndex = 0;
  remoteIndex = 0;
  presharedKey: Uint8Array = new Uint8Array(KEY_SIZE);
  /** DH(Spriv_local, Spub_remote); null when our key is unset or the peer's key is of small order. */
  precomputedStaticStatic: Uint8Array | null = null;
  /** Greatest TAI64N accepted from this peer (§5.1: replayed initiations must be refused). */
  lastTimestamp: Uint8Array = new Uint8Array(TAI64N_SIZE);
  /** Monotonic ms of the last accepted initiation, for the HANDSHAKE_INITIATION_RATE flood limit. */
  lastInitiationConsumption = -Infinity;

  constructor(readonly remoteStatic: Uint8Array) {}

  /** Recomputes the static-static DH after either private key or peer key changed. */
  precompute(local: StaticIdentity | null): void {
    wipe(this.precomputedStaticStatic);
    this.precomputedStaticStatic = local ? dh(local.privateKey, this.remoteStatic) : null;
  }

  /** Forgets the in-progress handshake (not the replay/flood bookkeeping, which must survive). */
  clear(): void {
    wipe(this.hash);
    wipe(this.chainKey);
    wipe(this.localEphemeral);
    this.localEphemeral = null;
    this.remoteEphemeral = null;
    this.localIndex = 0;
    this.remoteIndex = 0;
    this.state = HandshakeState.Zeroed;
  }
}

function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return hash(h, data);
}

/**
 * §5.4.2: builds a 148-byte initiation (mac fields zero) and moves `hs` to InitiationCreated.
 * Returns null if no static-static secret exists (unset key or small-order peer key).
 */
export function createInitiation(
  local: StaticIdentity,
  hs: Handshake,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
  wallMs: number,
): Uint8Array | null {
  const ss = hs.precomputedStaticStatic;
  if (ss === null) return null;
  const ephemeralPublic = publicKeyFrom(ephemeralPrivate);
  const es = dh(ephemeralPrivate, hs.remoteStatic);
  if (es === null) return null;

  let c = INITIAL_CHAIN_KEY;
  let h = mixHash(INITIAL_HASH, hs.remoteStatic);
  const msg = new Uint8Array(INITIATION_SIZE);
  writeHeader(msg, MESSAGE_INITIATION);
  writeU32(msg, Initiation.sender, localIndex);
  msg.set(ephemeralPublic, Initiation.ephemeral);
  c = kdf1(c, ephemeralPublic);
  h = mixHash(h, ephemeralPublic);

  let k: Uint8Array;
  [c, k] = kdf2(c, es);
  wipe(es);
  const encStatic = aeadSeal(k, local.publicKey, h);
  wipe(k);
  msg.set(encStatic, Initiation.static);
  h = mixHash(h, encStatic);

  [c, k] = kdf2(c, ss);
  const encTimestamp = aeadSeal(k, tai64n(wallMs), h);
  wipe(k);
  msg.set(encTimestamp, Initiation.timestamp);
  h = mixHash(h, encTimestamp);

  hs.clear();
  hs.chainKey = c;
  hs.hash = h;
  hs.localEphemeral = Uint8Array.from(ephemeralPrivate);
  hs.localIndex = localIndex;
  hs.state = HandshakeState.InitiationCreated;
  return msg;
}

export const enum InitiationRejection {
  Malformed = 1,
  UnknownPeer,
  BadKey,
  Replay,
  Flood,
}

export type ConsumeInitiationResult =
  | { ok: true; handshake: Handshake }
  | { ok: false; reason: InitiationRejection; handshake: Handshake | null };

/**
 * §5.4.2 (responder side): authenticates an initiation, identifies the peer by its decrypted static
 * key, and enforces the TAI64N replay and 20 ms flood rules. Only on success is `handshake` updated.
 */
export function consumeInitiation(
  local: StaticIdentity,
  msg: Uint8Array,
  lookup: (remoteStatic: Uint8Array) => Handshake | null,
  now: number,
): ConsumeInitiationResult {
  const ephemeral = msg.subarray(Initiation.ephemeral, Initiation.ephemeral + KEY_SIZE);
  let c = INITIAL_CHAIN_KEY;
  let h = mixHash(INITIAL_HASH, local.publicKey);
  c = kdf1(c, ephemeral);
  h = mixHash(h, ephemeral);

  const es = dh(local.privateKey, ephemeral);
  if (es === null) return { ok: false, reason: InitiationRejection.BadKey, handshake: null };
  let k: Uint8Array;
  [c, k] = kdf2(c, es);
  wipe(es);
  const encStatic = msg.subarray(Initiation.static, Initiation.static + KEY_SIZE + AEAD_TAG_SIZE);
  const remoteStatic = aeadOpen(k, encStatic, h);
  wipe(k);
  if (remoteStatic === null) return { ok: false, reason: InitiationRejection.Malformed, handshake: null };
  h = mixHash(h, encStatic);

  const hs = lookup(remoteStatic);
  if (hs === null) return { ok: false, reason: InitiationRejection.UnknownPeer, handshake: null };
  const ss = hs.precomputedStaticStatic;
  if (ss === null) return { ok: false, reason: InitiationRejection.BadKey, handshake: hs };

  [c, k] = kdf2(c, ss);
  const encTimestamp = msg.subarray(Initiation.timestamp, Initiation.timestamp + TAI64N_SIZE + AEAD_TAG_SIZE);
  const timestamp = aeadOpen(k, encTimestamp, h);
  wipe(k);
  if (timestamp === null) return { ok: false, reason: InitiationRejection.Malformed, handshake: hs };
  h = mixHash(h, encTimestamp);

  if (compareTai64n(timestamp, hs.lastTimestamp) <= 0) {
    return { ok: false, reason: InitiationRejection.Replay, handshake: hs };
  }
  if (now - hs.lastInitiationConsumption < HANDSHAKE_INITIATION_RATE) {
    return { ok: false, reason: InitiationRejection.Flood, handshake: hs };
  }

  hs.clear();
  hs.chainKey = c;
  hs.hash = h;
  hs.remoteEphemeral = Uint8Array.from(ephemeral);
  hs.remoteIndex = readU32(msg, Initiation.sender);
  hs.lastTimestamp = timestamp;
  hs.lastInitiationConsumption = now;
  hs.state = HandshakeState.InitiationConsumed;
  return { ok: true, handshake: hs };
}

/** §5.4.3: builds a 92-byte response (mac fields zero); `hs` must be in InitiationConsumed. */
export function createResponse(
  hs: Handshake,
  localIndex: number,
  ephemeralPrivate: Uint8Array,
): Uint8Array | null {
  if (hs.state !== HandshakeState.InitiationConsumed || hs.remoteEphemeral === null) return null;
  const ephemeralPublic = publicKeyFrom(ephemeralPrivate);
  const ee = dh(ephemeralPrivate, hs.remoteEphemeral);
  const se = dh(ephemeralPrivate, hs.remoteStatic);
  if (ee === null || se === null) return null;

  const msg = new Uint8Array(RESPONSE_SIZE);
  writeHeader(msg, MESSAGE_RESPONSE);
  writeU32(msg, Response.sender, localIndex);
  writeU32(msg, Response.receiver, hs.remoteIndex);
  msg.set(ephemeralPublic, Response.ephemeral);

  let c = kdf1(hs.chainKey, ephemeralPublic);
  let h = mixHash(hs.hash, ephemeralPublic);
  c = kdf1(c, ee);
  c = kdf1(c, se);
  wipe(ee);
  wipe(se);
  const [c2, tau, k] = kdf3(c, hs.presharedKey);
  c = c2;
  h = mixHash(h, tau);
  wipe(tau);
  const empty = aeadSeal(k, EMPTY, h);
  wipe(k);
  msg.set(empty, Response.empty);
  h = mixHash(h, empty);

  wipe(hs.chainKey);
  hs.chainKey = c;
  hs.hash = h;
  hs.localEphemeral = Uint8Array.from(ephemeralPrivate);
  hs.localIndex = localIndex;
  hs.state = HandshakeState.ResponseCreated;
  return msg;
}

/**
 * §5.4.3 (initiator side). `lookup` maps the receiver index to the handshake that sent the matching
 * initiation. Returns that handshake on success (now ResponseConsumed), else null.
 */
export function consumeResponse(
  local: StaticIdentity,
  msg: Uint8Array,
  lookup: (localIndex: number) => Handshake | null,
): Handshake | null {
  const hs = lookup(readU32(msg, Response.receiver));
  if (hs === null || hs.state !== HandshakeState.InitiationCreated || hs.localEphemeral === null) return null;
  const ephemeral = msg.subarray(Response.ephemeral, Response.ephemeral + KEY_SIZE);
  const ee = dh(hs.localEphemeral, ephemeral);
  const se = dh(local.privateKey, ephemeral);
  if (ee === null || se === null) return null;

  let c = kdf1(hs.chainKey, ephemeral);
  let h = mixHash(hs.hash, ephemeral);
  c = kdf1(c, ee);
  c = kdf1(c, se);
  wipe(ee);
  wipe(se);
  const [c2, tau, k] = kdf3(c, hs.presharedKey);
  c = c2;
  h = mixHash(h, tau);
  wipe(tau);
  const empty = msg.subarray(Response.empty, Response.empty + AEAD_TAG_SIZE);
  const ok = aeadOpen(k, empty, h);
  wipe(k);
  if (ok === null) return null;
  h = mixHash(h, empty);

  // Authenticated: commit.
  wipe(hs.chainKey);
  hs.chainKey = c;
  hs.hash = h;
  hs.remoteEphemeral = Uint8Array.from(ephemeral);
  hs.remoteIndex = readU32(msg, Response.sender);
  hs.state = HandshakeState.ResponseConsumed;
  return hs;
}

export interface SessionKeys {
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
  isInitiator: boolean;
  localIndex: number;
  remoteIndex: number;
}

/**
 * §5.4.5: (T_send_i = T_recv_r, T_recv_i = T_send_r) = KDF2(C, ε). Wipes the handshake afterwards,
 * as the chaining key and ephemerals must not outlive the session's derivation (forward secrecy).
 */
export function deriveSession(hs: Handshake): SessionKeys | null {
  let isInitiator: boolean;
  if (hs.state === HandshakeState.ResponseConsumed) isInitiator = true;
  else if (hs.state === HandshakeState.ResponseCreated) isInitiator = false;
  else return null;
  const [t1, t2] = kdf2(hs.chainKey, EMPTY);
  const keys: SessionKeys = {
    sendKey: isInitiator ? t1 : t2,
    receiveKey: isInitiator ? t2 : t1,
    isInitiator,
    localIndex: hs.localIndex,
    remoteIndex: hs.remoteIndex,
  };
  hs.clear();
  return keys;
}
