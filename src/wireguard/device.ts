// Device: the sans-IO WireGuard core. It owns the static identity, the peers, cryptokey routing and
// every timer of §6, but never touches a socket, a TUN or a clock of its own: the I/O layer feeds it
// datagrams (receiveDatagram), IP packets (sendPacket) and time (tick at nextDeadline()), and gets
// datagrams and decrypted packets back through DeviceOutput.
//
// Buffers handed to DeviceOutput are device-owned scratch space that the next call overwrites; an
// output that queues must copy (see DeviceOutput). In exchange the data path allocates almost nothing.

import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  AEAD_TAG_SIZE,
  DEFAULT_HANDSHAKE_QUEUE_CAPACITY,
  DEFAULT_MTU,
  KEY_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  PADDING_MULTIPLE,
  REKEY_AFTER_MESSAGES,
  REKEY_AFTER_TIME,
  REKEY_ON_RECEIVE_AFTER,
  REKEY_TIMEOUT,
  REKEY_TIMEOUT_JITTER_MAX,
  MAX_TIMER_HANDSHAKES,
  TRANSPORT_HEADER_SIZE,
  UNDER_LOAD_AFTER,
  UNDER_LOAD_FRACTION,
} from './constants.js';
import { AllowedIps } from './allowed-ips.js';
import { CookieChecker, cookieReplyReceiver } from './cookie.js';
import {
  aeadDecryptInto,
  aeadEncryptInto,
  equalBytes,
  generatePrivateKey,
  publicKeyFrom,
  wipe,
} from './crypto.js';
import { formatCidr, parseCidr, parseIp } from './ip.js';
import { Keypair } from './keypair.js';
import { Initiation, mac1Offset, messageType, readU32, Response, writeHeader, writeU32 } from './messages.js';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSession,
  InitiationRejection,
  type Handshake,
  type StaticIdentity,
} from './noise.js';
import { Peer } from './peer.js';
import { RateLimiter } from './ratelimiter.js';

export interface Endpoint {
  /** Textual IPv4 or IPv6 address, without brackets. */
  address: string;
  port: number;
}

export interface DeviceOutput {
  /** A datagram to send. The device may reuse `data`'s memory after the call returns: queue a copy. */
  sendUdp(data: Uint8Array, to: Endpoint): void;
  /** A decrypted IP packet for the TUN (same reuse rule). */
  writeTun(packet: Uint8Array): void;
}

export interface DeviceOptions {
  out: DeviceOutput;
  /** Monotonic milliseconds (default performance.now()). */
  now?: () => number;
  /** Wall clock ms since the epoch, for TAI64N and last-handshake times (default Date.now()). */
  wallNow?: () => number;
  random?: (n: number) => Uint8Array;
  /** Capacity of the handshake queue; the device is "under load" at 1/8 of it (default 1024). */
  handshakeQueueCapacity?: number;
  /**
   * When true, handshake messages are queued by receiveDatagram and processed by tick() /
   * processHandshakes() (nextDeadline() returns "now" while any wait), so a burst read in one go
   * shows up as queue depth, which is the load signal. When false (default) they are processed
   * at once and load only comes from `underLoad`.
   */
  deferHandshakes?: boolean;
}

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array | null;
  endpoint?: Endpoint | null;
  /** Seconds, 0 = off. */
  persistentKeepalive?: number;
  /** CIDR strings; replaces the peer's list. */
  allowedIps?: string[];
}

export interface PeerStatus {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | null;
  endpoint: Endpoint | null;
  persistentKeepalive: number;
  allowedIps: string[];
  lastHandshakeWallMs: number;
  rxBytes: number;
  txBytes: number;
}

export interface DeviceStats {
  rxDatagrams: number;
  txDatagrams: number;
  /** Malformed, unauthenticated, expired-session or otherwise unusable datagrams/packets. */
  droppedInvalid: number;
  droppedReplay: number;
  /** Outbound packets whose destination no peer's allowed IPs cover. */
  droppedNoPeer: number;
  /** Inbound packets whose inner source is not in the sending peer's allowed IPs (§2). */
  droppedSourceMismatch: number;
  /** Outbound packets for a peer without a known endpoint. */
  droppedNoEndpoint: number;
  /** Handshake messages refused by the per-source rate limit under load. */
  droppedRateLimited: number;
  droppedHandshakeQueueFull: number;
  /** Staged packets dropped because the queue was full or handshaking gave up. */
  droppedStaged: number;
  /** Initiations with a TAI64N not newer than the last accepted one (§5.1 replay). */
  rejectedInitiationReplay: number;
  /** Initiations within HANDSHAKE_INITIATION_RATE of the previous one from the same peer. */
  rejectedInitiationFlood: number;
  cookieRepliesSent: number;
  cookieRepliesReceived: number;
  handshakeInitiationsSent: number;
  handshakeResponsesSent: number;
  handshakesCompleted: number;
  keepalivesSent: number;
  keepalivesReceived: number;
  rxPackets: number;
  txPackets: number;
}

function newStats(): DeviceStats {
  return {
    rxDatagrams: 0,
    txDatagrams: 0,
    droppedInvalid: 0,
    droppedReplay: 0,
    droppedNoPeer: 0,
    droppedSourceMismatch: 0,
    droppedNoEndpoint: 0,
    droppedRateLimited: 0,
    droppedHandshakeQueueFull: 0,
    droppedStaged: 0,
    rejectedInitiationReplay: 0,
    rejectedInitiationFlood: 0,
    cookieRepliesSent: 0,
    cookieRepliesReceived: 0,
    handshakeInitiationsSent: 0,
    handshakeResponsesSent: 0,
    handshakesCompleted: 0,
    keepalivesSent: 0,
    keepalivesReceived: 0,
    rxPackets: 0,
    txPackets: 0,
  };
}

/** Largest UDP payload; bounds every scratch buffer. */
const MAX_DATAGRAM = 65535;
const EMPTY_PACKET = new Uint8Array(0);

function keyId(publicKey: Uint8Array): string {
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64');
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_SIZE)
    throw new RangeError(`${what} must be 32 bytes`);
}

/** Source bytes bound into a cookie (§5.4.7: "the source IP address and UDP port"). */
function endpointBytes(ep: Endpoint): Uint8Array {
  let ip: Uint8Array;
  try {
    ip = parseIp(ep.address);
  } catch {
    ip = new TextEncoder().encode(ep.address);
  }
  const out = new Uint8Array(ip.length + 2);
  out.set(ip);
  out[ip.length] = (ep.port >>> 8) & 0xff;
  out[ip.length + 1] = ep.port & 0xff;
  return out;
}

interface QueuedHandshake {
  data: Uint8Array;
  from: Endpoint;
}

export class Device {
  /** Plain configuration fields; the I/O layer acts on changes. */
  listenPort = 0;
  fwmark = 0;
  /** Tunnel MTU: padding (§5.4.6) never makes a payload longer than this. */
  mtu = DEFAULT_MTU;
  /** Optional load override (tests, or an I/O layer with its own queue metrics). */
  underLoad?: () => boolean;
  readonly stats: DeviceStats = newStats();

  private readonly out: DeviceOutput;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private readonly random: (n: number) => Uint8Array;
  private readonly handshakeQueueCapacity: number;
  private readonly deferHandshakes: boolean;

  private identity: StaticIdentity | null = null;
  private checker: CookieChecker | null = null;
  private readonly peers = new Map<string, Peer>();
  private readonly routes = new AllowedIps<Peer>();
  /** Local index -> session, or -> peer whose initiation carries that index. */
  private readonly indices = new Map<number, Keypair<Peer> | Peer>();
  private readonly rateLimiter = new RateLimiter();
  private readonly handshakeQueue: QueuedHandshake[] = [];
  private underLoadUntil = -Infinity;
  private upState = true;
  /** Lower bound of every peer's earliest timer; may be early (then tick() finds nothing), never late. */
  private earliest = Infinity;
  private readonly armed = (deadline: number): void => {
    if (deadline < this.earliest) this.earliest = deadline;
  };

  // Data-path scratch space, reused for every packet.
  private readonly nonce = new Uint8Array(12);
  private readonly plain = new Uint8Array(MAX_DATAGRAM);
  private readonly sealed = new Uint8Array(
    MAX_DATAGRAM + TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE + PADDING_MULTIPLE,
  );
  private readonly opened = new Uint8Array(MAX_DATAGRAM);
  private readonly addr4 = new Uint8Array(4);
  private readonly addr16 = new Uint8Array(16);

  constructor(opts: DeviceOptions) {
    this.out = opts.out;
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
    this.random = opts.random ?? ((n: number) => randomBytes(n));
    const cap = opts.handshakeQueueCapacity ?? DEFAULT_HANDSHAKE_QUEUE_CAPACITY;
    if (!Number.isInteger(cap) || cap < 1)
      throw new RangeError('handshakeQueueCapacity must be a positive integer');
    this.handshakeQueueCapacity = cap;
    this.deferHandshakes = opts.deferHandshakes ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // Configuration

  get publicKey(): Uint8Array | null {
    return this.identity ? Uint8Array.from(this.identity.publicKey) : null;
  }

  get privateKey(): Uint8Array | null {
    return this.identity ? Uint8Array.from(this.identity.privateKey) : null;
  }

  /** Whether the device is up (a new Device starts up; see down()). */
  get isUp(): boolean {
    return this.upState;
  }

  setPrivateKey(key: Uint8Array | null): void {
    if (key !== null) checkKey(key, 'private key');
    if (
      key === null
        ? this.identity === null
        : this.identity !== null && equalBytes(key, this.identity.privateKey)
    ) {
      return;
    }
    if (this.identity) {
      wipe(this.identity.privateKey);
    }
    if (key === null) {
      this.identity = null;
      this.checker = null;
    } else {
      const privateKey = Uint8Array.from(key);
      const publicKey = publicKeyFrom(privateKey);
      this.identity = { privateKey, publicKey };
      this.checker = new CookieChecker(publicKey, this.random);
      // A peer with our own public key would be talking to itself; wireguard-go drops it too.
      for (const peer of [...this.peers.values()]) {
        if (equalBytes(peer.publicKey, publicKey)) this.deletePeer(peer);
      }
    }
    for (const peer of this.peers.values()) {
      peer.handshake.precompute(this.identity);
      this.expireCurrentKeypairs(peer);
    }
  }

  upsertPeer(cfg: PeerConfig): void {
    checkKey(cfg.publicKey, 'peer public key');
    if (this.identity && equalBytes(cfg.publicKey, this.identity.publicKey)) return;
    const id = keyId(cfg.publicKey);
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = new Peer(Uint8Array.from(cfg.publicKey), id, this.armed);
      peer.setPresharedKey(null);
      peer.handshake.precompute(this.identity);
      this.peers.set(id, peer);
    }
    if (cfg.presharedKey !== undefined) {
      if (cfg.presharedKey !== null) checkKey(cfg.presharedKey, 'preshared key');
      peer.setPresharedKey(cfg.presharedKey);
    }
    if (cfg.endpoint !== undefined) {
      peer.endpoint =
        cfg.endpoint === null ? null : { address: cfg.endpoint.address, port: cfg.endpoint.port };
    }
    if (cfg.allowedIps !== undefined) this.setAllowedIps(cfg.publicKey, cfg.allowedIps);
    if (cfg.persistentKeepalive !== undefined) {
      const ka = cfg.persistentKeepalive;
      if (!Number.isInteger(ka) || ka < 0 || ka > 65535)
        throw new RangeError('persistentKeepalive must be 0..65535');
      const wasOff = peer.persistentKeepalive === 0;
      peer.persistentKeepalive = ka;
      if (ka === 0) peer.timers.persistentKeepalive = Infinity;
      // Turning it on sends one right away, so a peer behind NAT becomes reachable without waiting.
      else if (wasOff && this.upState) this.sendKeepalive(peer);
    }
  }

  removePeer(publicKey: Uint8Array): void {
    const peer = this.peers.get(keyId(publicKey));
    if (peer) this.deletePeer(peer);
  }

  removeAllPeers(): void {
    for (const peer of [...this.peers.values()]) this.deletePeer(peer);
  }

  setAllowedIps(publicKey: Uint8Array, cidrs: string[]): void {
    const peer = this.requirePeer(publicKey);
    const prefixes = cidrs.map(parseCidr); // parse all first: a bad entry changes nothing
    this.routes.removeValue(peer);
    for (const p of prefixes) this.routes.insert(p.addr, p.bits, peer);
  }

  addAllowedIp(publicKey: Uint8Array, cidr: string): void {
    const peer = this.requirePeer(publicKey);
    const p = parseCidr(cidr);
    this.routes.insert(p.addr, p.bits, peer);
  }

  removeAllowedIp(publicKey: Uint8Array, cidr: string): void {
    const peer = this.requirePeer(publicKey);
    const p = parseCidr(cidr);
    this.routes.remove(p.addr, p.bits, peer);
  }

  peerStatus(): PeerStatus[] {
    const out: PeerStatus[] = [];
    for (const peer of this.peers.values()) {
      out.push({
        publicKey: Uint8Array.from(peer.publicKey),
        presharedKey: peer.presharedKey ? Uint8Array.from(peer.presharedKey) : null,
        endpoint: peer.endpoint ? { ...peer.endpoint } : null,
        persistentKeepalive: peer.persistentKeepalive,
        allowedIps: this.routes.entriesOf(peer).map(formatCidr),
        lastHandshakeWallMs: peer.lastHandshakeWallMs,
        rxBytes: peer.rxBytes,
        txBytes: peer.txBytes,
      });
    }
    return out;
  }

  /** The peer that an outbound packet to `address` would go to (cryptokey routing), or null. */
  routeLookup(address: string): Uint8Array | null {
    const peer = this.routes.lookup(parseIp(address));
    return peer ? Uint8Array.from(peer.publicKey) : null;
  }

  /** Which session slots and handshake state a peer has (diagnostics and tests; no key material). */
  sessionState(publicKey: Uint8Array): {
    previous: boolean;
    current: boolean;
    next: boolean;
    handshakeState: number;
    stagedPackets: number;
  } | null {
    const peer = this.peers.get(keyId(publicKey));
    if (peer === undefined) return null;
    return {
      previous: peer.previous !== null,
      current: peer.current !== null,
      next: peer.next !== null,
      handshakeState: peer.handshake.state,
      stagedPackets: peer.staged.length,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle and time

  up(): void {
    if (this.upState) return;
    this.upState = true;
    for (const peer of this.peers.values()) if (peer.persistentKeepalive > 0) this.sendKeepalive(peer);
  }

  /** Like taking the interface down: all sessions, handshakes, timers and queued packets are dropped. */
  down(): void {
    if (!this.upState) return;
    this.upState = false;
    for (const peer of this.peers.values()) this.resetPeerState(peer);
    this.handshakeQueue.length = 0;
    this.earliest = Infinity;
  }

  nextDeadline(): number | null {
    if (this.handshakeQueue.length > 0) return this.now();
    return this.earliest === Infinity ? null : this.earliest;
  }

  tick(): void {
    if (this.handshakeQueue.length > 0) this.processHandshakes();
    const now = this.now();
    if (now < this.earliest) return;
    let earliest = Infinity;
    for (const peer of this.peers.values()) {
      this.runTimers(peer, now);
      const e = peer.timers.earliest();
      if (e < earliest) earliest = e;
    }
    this.earliest = earliest;
  }

  /** Processes queued handshake messages (deferHandshakes mode); returns how many were handled. */
  processHandshakes(max = Infinity): number {
    let n = 0;
    // Load is judged once per batch, at the queue depth the batch started with.
    const underLoad = this.isUnderLoad();
    while (this.handshakeQueue.length > 0 && n < max) {
      const q = this.handshakeQueue.shift()!;
      this.handleHandshake(q.data, q.from, underLoad);
      n++;
    }
    return n;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  receiveDatagram(data: Uint8Array, from: Endpoint): void {
    this.stats.rxDatagrams++;
    if (!this.upState || this.identity === null) {
      this.stats.droppedInvalid++;
      return;
    }
    try {
      switch (messageType(data)) {
        case MESSAGE_TRANSPORT:
          this.receiveTransport(data, from);
          return;
        case MESSAGE_INITIATION:
        case MESSAGE_RESPONSE:
          if (this.deferHandshakes) {
            if (this.handshakeQueue.length >= this.handshakeQueueCapacity) {
              this.stats.droppedHandshakeQueueFull++;
              return;
            }
            this.handshakeQueue.push({
              data: Uint8Array.from(data),
              from: { address: from.address, port: from.port },
            });
            this.isUnderLoad(); // samples the queue depth
          } else {
            this.handleHandshake(data, from, this.isUnderLoad());
          }
          return;
        case MESSAGE_COOKIE_REPLY:
          this.receiveCookieReply(data);
          return;
        default:
          this.stats.droppedInvalid++;
      }
    } catch {
      // Nothing in a datagram may take the device down; anything unexpected is a dropped datagram.
      this.stats.droppedInvalid++;
    }
  }

  private isUnderLoad(): boolean {
    if (this.underLoad) return this.underLoad();
    const now = this.now();
    if (this.handshakeQueue.length >= this.handshakeQueueCapacity / UNDER_LOAD_FRACTION) {
      this.underLoadUntil = now + UNDER_LOAD_AFTER;
    }
    return now < this.underLoadUntil;
  }

  private handleHandshake(data: Uint8Array, from: Endpoint, underLoad: boolean): void {
    const checker = this.checker;
    const identity = this.identity;
    if (checker === null || identity === null || !this.upState) return;
    const type = data[0]!;
    const macOff = mac1Offset(type);
    // mac1 first: it costs one BLAKE2s, and without it nothing else is worth computing (§5.3).
    if (!checker.checkMac1(data, macOff)) {
      this.stats.droppedInvalid++;
      return;
    }
    const now = this.now();
    if (underLoad) {
      const source = endpointBytes(from);
      if (!checker.checkMac2(data, macOff, source, now)) {
        const senderIndex = readU32(data, type === MESSAGE_INITIATION ? Initiation.sender : Response.sender);
        const reply = checker.createReply(data, macOff, senderIndex, source, now);
        this.sendDatagram(reply, from);
        this.stats.cookieRepliesSent++;
        return;
      }
      if (!this.rateLimiter.allow(from.address, now)) {
        this.stats.droppedRateLimited++;
        return;
      }
    }
    if (type === MESSAGE_INITIATION) this.receiveInitiation(identity, data, from, now);
    else this.receiveResponse(identity, data, from, now);
  }

  private receiveInitiation(identity: StaticIdentity, data: Uint8Array, from: Endpoint, now: number): void {
    let peer: Peer | null = null;
    const res = consumeInitiation(
      identity,
      data,
      (remoteStatic) => {
        peer = this.peers.get(keyId(remoteStatic)) ?? null;
        return peer ? peer.handshake : null;
      },
      now,
    );
    if (!res.ok) {
      if (res.reason === InitiationRejection.Replay) this.stats.rejectedInitiationReplay++;
      else if (res.reason === InitiationRejection.Flood) this.stats.rejectedInitiationFlood++;
      else this.stats.droppedInvalid++;
      return;
    }
    const p = peer as Peer | null;
    if (p === null) return;
    // The peer's initiation supersedes ours (consumeInitiation reset the handshake state).
    this.forgetHandshakeIndex(p);
    this.authenticated(p, from, now);

    const localIndex = this.allocateIndex(p);
    const ephemeral = generatePrivateKey(this.random);
    const msg = createResponse(p.handshake, localIndex, ephemeral);
    wipe(ephemeral);
    if (msg === null) {
      this.indices.delete(localIndex);
      p.handshake.clear();
      this.stats.droppedInvalid++;
      return;
    }
    p.cookies.addMacs(msg, Response.mac1, now);
    if (!this.installSession(p, p.handshake, localIndex, now)) return;
    p.lastSentHandshake = now;
    p.timers.anyAuthenticatedPacketTraversal(now, p.persistentKeepalive);
    p.timers.anyAuthenticatedPacketSent();
    this.stats.handshakeResponsesSent++;
    this.sendToPeer(p, msg);
  }

  private receiveResponse(identity: StaticIdentity, data: Uint8Array, from: Endpoint, now: number): void {
    let peer: Peer | null = null;
    const hs = consumeResponse(identity, data, (index) => {
      const entry = this.indices.get(index);
      if (!(entry instanceof Peer)) return null;
      peer = entry;
      return entry.handshake;
    });
    const p = peer as Peer | null;
    if (hs === null || p === null) {
      this.stats.droppedInvalid++;
      return;
    }
    this.authenticated(p, from, now);
    const localIndex = readU32(data, Response.receiver);
    p.handshakeIndex = null;
    if (!this.installSession(p, hs, localIndex, now)) return;
    p.timers.handshakeComplete();
    p.lastHandshakeWallMs = this.wallNow();
    this.stats.handshakesCompleted++;
    // §5.4.5/§6: the initiator confirms the session to the responder with its first packet; if
    // nothing is queued that packet is a keepalive.
    this.sendKeepalive(p);
  }

  /** Derives the session from a finished handshake and puts it in the right slot (§6.1). */
  private installSession(peer: Peer, hs: Handshake, localIndex: number, now: number): boolean {
    const keys = deriveSession(hs);
    if (keys === null) {
      this.indices.delete(localIndex);
      return false;
    }
    const kp = new Keypair<Peer>(peer, keys, now);
    this.indices.set(localIndex, kp);
    if (kp.isInitiator) {
      if (peer.next !== null) {
        // An unconfirmed responder session is newer than `current`: keep it for in-flight packets.
        this.dropKeypair(peer.previous);
        peer.previous = peer.next;
        peer.next = null;
        this.dropKeypair(peer.current);
      } else {
        this.dropKeypair(peer.previous);
        peer.previous = peer.current;
      }
      peer.current = kp;
    } else {
      // Responder: the session may not send until the initiator's first packet confirms it.
      this.dropKeypair(peer.next);
      peer.next = kp;
      this.dropKeypair(peer.previous);
      peer.previous = null;
    }
    peer.timers.sessionDerived(now);
    return true;
  }

  private receiveCookieReply(data: Uint8Array): void {
    const entry = this.indices.get(cookieReplyReceiver(data));
    const peer = entry instanceof Keypair ? entry.peer : (entry ?? null);
    if (peer === null || !peer.cookies.consumeReply(data, this.now())) {
      this.stats.droppedInvalid++;
      return;
    }
    // The retransmit timer resends the handshake, now with mac2 (§5.4.7: no immediate resend, so a
    // forged reply cannot make us amplify).
    this.stats.cookieRepliesReceived++;
  }

  private receiveTransport(data: Uint8Array, from: Endpoint): void {
    const entry = this.indices.get(readU32(data, 4));
    if (!(entry instanceof Keypair)) {
      this.stats.droppedInvalid++;
      return;
    }
    const kp = entry;
    const now = this.now();
    const key = kp.receiveKey;
    if (key === null || !kp.canReceive(now)) {
      this.stats.droppedInvalid++;
      return;
    }
    const lo = readU32(data, 8);
    const hi = readU32(data, 12);
    // Cheap reject of known replays before spending a decryption on them; the window itself is only
    // updated after authentication.
    if (!kp.replay.check(hi, lo)) {
      this.stats.droppedReplay++;
      return;
    }
    const plainLen = data.length - TRANSPORT_HEADER_SIZE - AEAD_TAG_SIZE;
    if (plainLen > this.opened.length) {
      this.stats.droppedInvalid++;
      return;
    }
    const nonce = this.nonce;
    nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
    for (let i = 0; i < 8; i++) nonce[4 + i] = data[8 + i]!;
    const plain = this.opened.subarray(0, plainLen);
    if (!aeadDecryptInto(plain, key, nonce, data.subarray(TRANSPORT_HEADER_SIZE), null)) {
      this.stats.droppedInvalid++;
      return;
    }
    if (!kp.replay.update(hi, lo)) {
      this.stats.droppedReplay++;
      return;
    }

    const peer = kp.peer;
    // Roaming first, so that anything sent below goes to where the peer is now.
    this.authenticated(peer, from, now);
    if (kp === peer.next) {
      // Key confirmation (§5.4.5): the initiator has the session, so it becomes ours to send on.
      this.dropKeypair(peer.previous);
      peer.previous = peer.current;
      peer.current = kp;
      peer.next = null;
      peer.timers.handshakeComplete();
      peer.lastHandshakeWallMs = this.wallNow();
      this.stats.handshakesCompleted++;
      this.sendStaged(peer);
    }
    this.keepKeyFreshReceiving(peer, kp, now);
    peer.rxBytes += data.length;

    if (plainLen === 0) {
      this.stats.keepalivesReceived++;
      return;
    }
    peer.timers.dataReceived(now);

    const buf = this.opened;
    let ipLen: number;
    let src: Uint8Array;
    const version = buf[0]! >>> 4;
    if (version === 4 && plainLen >= 20) {
      ipLen = (buf[2]! << 8) | buf[3]!;
      src = this.addr4;
      for (let i = 0; i < 4; i++) src[i] = buf[12 + i]!;
      if (ipLen < 20) ipLen = Infinity;
    } else if (version === 6 && plainLen >= 40) {
      ipLen = 40 + ((buf[4]! << 8) | buf[5]!);
      src = this.addr16;
      for (let i = 0; i < 16; i++) src[i] = buf[8 + i]!;
    } else {
      this.stats.droppedInvalid++;
      return;
    }
    // The padding (§5.4.6) is stripped by trusting the IP header's length, which must fit.
    if (ipLen > plainLen) {
      this.stats.droppedInvalid++;
      return;
    }
    // Cryptokey routing, inbound half (§2): the inner source must be one the peer is allowed to use.
    if (this.routes.lookup(src) !== peer) {
      this.stats.droppedSourceMismatch++;
      return;
    }
    this.stats.rxPackets++;
    this.out.writeTun(buf.subarray(0, ipLen));
  }

  /** Bookkeeping for any authenticated packet from `peer` (roaming, §2.1, and §6 timers). */
  private authenticated(peer: Peer, from: Endpoint, now: number): void {
    const ep = peer.endpoint;
    if (ep === null || ep.port !== from.port || ep.address !== from.address) {
      peer.endpoint = { address: from.address, port: from.port };
    }
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
  }

  /**
   * §6.2: if we initiated the current session and it is close to REJECT_AFTER_TIME, start the next
   * handshake now, once, rather than waiting for our own traffic to trigger it.
   */
  private keepKeyFreshReceiving(peer: Peer, kp: Keypair<Peer>, now: number): void {
    if (kp !== peer.current || !kp.isInitiator || peer.timers.sentLastMinuteHandshake) return;
    if (now - kp.created >= REKEY_ON_RECEIVE_AFTER) {
      peer.timers.sentLastMinuteHandshake = true;
      this.initiateHandshake(peer, false);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Outbound

  sendPacket(ip: Uint8Array): void {
    if (!this.upState || this.identity === null) {
      this.stats.droppedInvalid++;
      return;
    }
    let dst: Uint8Array;
    const version = ip.length > 0 ? ip[0]! >>> 4 : 0;
    if (version === 4 && ip.length >= 20) {
      dst = this.addr4;
      for (let i = 0; i < 4; i++) dst[i] = ip[16 + i]!;
    } else if (version === 6 && ip.length >= 40) {
      dst = this.addr16;
      for (let i = 0; i < 16; i++) dst[i] = ip[24 + i]!;
    } else {
      this.stats.droppedInvalid++;
      return;
    }
    if (ip.length > MAX_DATAGRAM - TRANSPORT_HEADER_SIZE - AEAD_TAG_SIZE - PADDING_MULTIPLE) {
      this.stats.droppedInvalid++;
      return;
    }
    // Cryptokey routing, outbound half (§2): the destination picks the peer.
    const peer = this.routes.lookup(dst);
    if (peer === null) {
      this.stats.droppedNoPeer++;
      return;
    }
    const now = this.now();
    const kp = peer.current;
    // Fast path: a usable session and nothing queued ahead of this packet (order is preserved).
    if (peer.staged.length === 0 && kp !== null && kp.canSend(now)) {
      if (peer.endpoint === null) {
        this.stats.droppedNoEndpoint++;
        return;
      }
      this.sealAndSend(peer, kp, ip, now);
      this.keepKeyFreshSending(peer, kp, now);
      return;
    }
    if (peer.stage(ip)) this.stats.droppedStaged++;
    this.sendStaged(peer);
  }

  /** Sends queued packets on the current session, or starts a handshake to get one (§6.2). */
  private sendStaged(peer: Peer): void {
    const now = this.now();
    const kp = peer.current;
    if (kp === null || !kp.canSend(now)) {
      this.initiateHandshake(peer, false);
      return;
    }
    if (peer.endpoint === null) {
      this.stats.droppedNoEndpoint += peer.staged.length;
      peer.staged.length = 0;
      return;
    }
    const queue = peer.staged;
    peer.staged = [];
    for (const packet of queue) this.sealAndSend(peer, kp, packet, now);
    this.keepKeyFreshSending(peer, kp, now);
  }

  private sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0) peer.staged.push(EMPTY_PACKET);
    this.sendStaged(peer);
  }

  /** §5.4.6: pad, encrypt with the next counter, frame and send. */
  private sealAndSend(peer: Peer, kp: Keypair<Peer>, packet: Uint8Array, now: number): void {
    const endpoint = peer.endpoint!;
    const counter = kp.sendCounter++;
    const len = packet.length;
    let padded = (len + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
    if (padded > this.mtu) padded = len > this.mtu ? len : this.mtu;
    const plain = this.plain;
    plain.set(packet, 0);
    plain.fill(0, len, padded);
    const out = this.sealed;
    writeHeader(out, MESSAGE_TRANSPORT);
    writeU32(out, 4, kp.remoteIndex);
    const lo = counter >>> 0;
    const hi = Math.floor(counter / 4294967296);
    writeU32(out, 8, lo);
    writeU32(out, 12, hi);
    const nonce = this.nonce;
    nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
    for (let i = 0; i < 8; i++) nonce[4 + i] = out[8 + i]!;
    const total = TRANSPORT_HEADER_SIZE + padded + AEAD_TAG_SIZE;
    aeadEncryptInto(
      out.subarray(TRANSPORT_HEADER_SIZE, total),
      kp.sendKey!,
      nonce,
      plain.subarray(0, padded),
      null,
    );
    peer.txBytes += total;
    if (len === 0) this.stats.keepalivesSent++;
    else this.stats.txPackets++;
    this.sendDatagram(out.subarray(0, total), endpoint);
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
    peer.timers.anyAuthenticatedPacketSent();
    if (len > 0 && peer.timers.newHandshake === Infinity) peer.timers.dataSent(now, this.jitter());
  }

  /** §6.2: the initiator of a session rekeys once it is REKEY_AFTER_TIME old or has sent enough. */
  private keepKeyFreshSending(peer: Peer, kp: Keypair<Peer>, now: number): void {
    if (!kp.isInitiator) return;
    if (kp.sendCounter > REKEY_AFTER_MESSAGES || now - kp.created >= REKEY_AFTER_TIME) {
      this.initiateHandshake(peer, false);
    }
  }

  /** §5.4.2 + §6.4: sends an initiation, at most once per REKEY_TIMEOUT per peer. */
  private initiateHandshake(peer: Peer, isRetry: boolean): void {
    const identity = this.identity;
    if (!this.upState || identity === null) return;
    const now = this.now();
    if (!isRetry) peer.timers.handshakeAttempts = 0;
    if (now - peer.lastSentHandshake < REKEY_TIMEOUT) return;
    peer.lastSentHandshake = now;

    this.forgetHandshakeIndex(peer);
    const localIndex = this.allocateIndex(peer);
    const ephemeral = generatePrivateKey(this.random);
    const msg = createInitiation(identity, peer.handshake, localIndex, ephemeral, this.wallNow());
    wipe(ephemeral);
    if (msg === null) {
      // No static-static secret (e.g. a small-order peer key): this peer can never handshake.
      this.indices.delete(localIndex);
      return;
    }
    peer.handshakeIndex = localIndex;
    peer.cookies.addMacs(msg, Initiation.mac1, now);
    peer.timers.anyAuthenticatedPacketTraversal(now, peer.persistentKeepalive);
    peer.timers.anyAuthenticatedPacketSent();
    this.stats.handshakeInitiationsSent++;
    this.sendToPeer(peer, msg);
    peer.timers.handshakeInitiated(now, this.jitter());
  }

  private sendToPeer(peer: Peer, msg: Uint8Array): void {
    if (peer.endpoint === null) {
      this.stats.droppedNoEndpoint++;
      return;
    }
    peer.txBytes += msg.length;
    this.sendDatagram(msg, peer.endpoint);
  }

  private sendDatagram(data: Uint8Array, to: Endpoint): void {
    this.stats.txDatagrams++;
    this.out.sendUdp(data, to);
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  private runTimers(peer: Peer, now: number): void {
    const t = peer.timers;
    if (t.retransmitHandshake <= now) {
      t.retransmitHandshake = Infinity;
      if (t.handshakeAttempts >= MAX_TIMER_HANDSHAKES) {
        // §6.4: give up after REKEY_ATTEMPT_TIME; queued packets go, keys are erased later.
        this.stats.droppedStaged += peer.staged.filter((p) => p.length > 0).length;
        peer.staged = [];
        t.armZeroKeyMaterial(now);
      } else {
        t.handshakeAttempts++;
        this.initiateHandshake(peer, true);
      }
    }
    if (t.sendKeepalive <= now) {
      t.sendKeepalive = Infinity;
      this.sendKeepalive(peer);
      if (t.needAnotherKeepalive) {
        t.needAnotherKeepalive = false;
        t.rearmKeepalive(now);
      }
    }
    if (t.newHandshake <= now) {
      t.newHandshake = Infinity;
      this.initiateHandshake(peer, false);
    }
    if (t.zeroKeyMaterial <= now) {
      t.zeroKeyMaterial = Infinity;
      this.zeroKeys(peer);
    }
    if (t.persistentKeepalive <= now) {
      t.persistentKeepalive = Infinity;
      if (peer.persistentKeepalive > 0) this.sendKeepalive(peer);
    }
  }

  /** REKEY_TIMEOUT jitter (§6.1: up to 333 ms), so peers that lost packets together do not retry together. */
  private jitter(): number {
    const r = this.random(2);
    return ((r[0]! << 8) | r[1]!) % (REKEY_TIMEOUT_JITTER_MAX + 1);
  }

  // -------------------------------------------------------------------------------------------
  // Index table and session bookkeeping

  private allocateIndex(owner: Peer): number {
    for (;;) {
      const r = this.random(4);
      const index = (r[0]! | (r[1]! << 8) | (r[2]! << 16) | (r[3]! << 24)) >>> 0;
      if (!this.indices.has(index)) {
        this.indices.set(index, owner);
        return index;
      }
    }
  }

  private forgetHandshakeIndex(peer: Peer): void {
    if (peer.handshakeIndex !== null) {
      if (this.indices.get(peer.handshakeIndex) === peer) this.indices.delete(peer.handshakeIndex);
      peer.handshakeIndex = null;
    }
  }

  private dropKeypair(kp: Keypair<Peer> | null): void {
    if (kp === null) return;
    if (this.indices.get(kp.localIndex) === kp) this.indices.delete(kp.localIndex);
    kp.wipe();
  }

  /** After a private key change, existing sessions must not carry new traffic (new identity). */
  private expireCurrentKeypairs(peer: Peer): void {
    this.forgetHandshakeIndex(peer);
    peer.handshake.clear();
    peer.current?.expireForSending();
    peer.next?.expireForSending();
  }

  /** §6.3: erase every key and the handshake state of `peer`. */
  private zeroKeys(peer: Peer): void {
    this.dropKeypair(peer.previous);
    this.dropKeypair(peer.current);
    this.dropKeypair(peer.next);
    peer.previous = peer.current = peer.next = null;
    this.forgetHandshakeIndex(peer);
    peer.handshake.clear();
  }

  private resetPeerState(peer: Peer): void {
    this.zeroKeys(peer);
    peer.timers.clear();
    peer.staged = [];
    peer.lastSentHandshake = -Infinity;
  }

  private deletePeer(peer: Peer): void {
    this.resetPeerState(peer);
    this.routes.removeValue(peer);
    this.peers.delete(peer.id);
  }

  private requirePeer(publicKey: Uint8Array): Peer {
    const peer = this.peers.get(keyId(publicKey));
    if (peer === undefined) throw new Error('no such peer');
    return peer;
  }
}
