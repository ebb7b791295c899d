// Protocol constants. Section numbers refer to the WireGuard whitepaper
// ("WireGuard: Next Generation Kernel Network Tunnel", J. A. Donenfeld, revision e2da747).

/** §5.4: Noise protocol name, hashed into the initial chaining key. */
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
/** §5.4: prologue-style identifier mixed into the initial handshake hash. */
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
/** §5.4.4: label for the mac1 key, HASH(LABEL_MAC1 || Spub). */
export const LABEL_MAC1 = 'mac1----';
/** §5.4.7: label for the cookie-reply encryption key, HASH(LABEL_COOKIE || Spub). */
export const LABEL_COOKIE = 'cookie--';

// §5.4: message types (first byte, followed by three reserved zero bytes).
export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;

// §5.4.2, §5.4.3, §5.4.7, §5.4.6: fixed wire sizes.
export const KEY_SIZE = 32;
export const AEAD_TAG_SIZE = 16;
export const MAC_SIZE = 16;
export const TAI64N_SIZE = 12;
export const COOKIE_SIZE = 16;
export const COOKIE_NONCE_SIZE = 24;
export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
/** type(4) + receiver(4) + counter(8) */
export const TRANSPORT_HEADER_SIZE = 16;
/** Header plus the tag of an empty (keepalive) payload. */
export const TRANSPORT_MIN_SIZE = TRANSPORT_HEADER_SIZE + AEAD_TAG_SIZE;
/** §5.4.6: plaintext is zero-padded to a multiple of 16 bytes (bounded by the MTU). */
export const PADDING_MULTIPLE = 16;

// §6.1 (Table 1): timer and counter limits. Times are in milliseconds.
/** 2^60: after this many messages the initiator starts a new handshake. */
export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 - 2^13 - 1: a keypair never sends or accepts a counter at or above this. */
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
/** §6.1: "...plus jitter of up to 333 ms" on every handshake (re)transmission. */
export const REKEY_TIMEOUT_JITTER_MAX = 333;
export const KEEPALIVE_TIMEOUT = 10_000;
/** §6.3: with no new handshake, all key material is erased after three times REJECT_AFTER_TIME. */
export const ZERO_KEY_MATERIAL_AFTER = REJECT_AFTER_TIME * 3;
/** §6.4: number of retransmissions before giving up, REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/**
 * §6.2: the initiator of the current session starts a new handshake when it receives a packet on a
 * keypair this old, so that the session is replaced before REJECT_AFTER_TIME cuts it off.
 */
export const REKEY_ON_RECEIVE_AFTER = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT;
/** §6.2: a new handshake if data sent is unanswered this long (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT). */
export const NEW_HANDSHAKE_AFTER_UNANSWERED = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT;

/**
 * §5.1: a responder accepts at most one initiation per peer in this interval (an authenticated but
 * replayed-in-time flood must not force repeated ephemeral DH work). wireguard-go: HandshakeInitationRate.
 */
export const HANDSHAKE_INITIATION_RATE = 20;
/** §5.4.7: the cookie secret Rm changes every two minutes; a cookie is used at most that long. */
export const COOKIE_SECRET_LIFETIME = 120_000;
export const COOKIE_LIFETIME = 120_000;
/** Once load is detected, stay in "under load" mode this long (wireguard-go: UnderLoadAfterTime). */
export const UNDER_LOAD_AFTER = 1_000;
/** Default capacity of the handshake queue; load is declared at 1/8 of it (as in wireguard-go). */
export const DEFAULT_HANDSHAKE_QUEUE_CAPACITY = 1024;
export const UNDER_LOAD_FRACTION = 8;
/** Per-peer queue of packets waiting for a session (wireguard-go: QueueStagedSize). */
export const STAGED_QUEUE_SIZE = 128;

// Per-source handshake rate limit under load (wireguard-go ratelimiter: 20/s with a burst of 5).
export const HANDSHAKE_RATE_PER_SECOND = 20;
export const HANDSHAKE_RATE_BURST = 5;
/** Idle rate-limit entries are forgotten after this long. */
export const RATE_LIMIT_GC_AFTER = 1_000;

/**
 * Sliding replay window (RFC 6479 layout): 8192 bits of ring, of which one 32-bit word is the
 * moving edge, so 8160 earlier counters are tracked (wireguard-go keeps 8192 - 64 = 8128).
 */
export const REPLAY_RING_WORDS = 256;
export const REPLAY_WINDOW_SIZE = REPLAY_RING_WORDS * 32 - 32;

/** Default tunnel MTU (wg-quick's default on a 1500-byte link); padding never grows past it. */
export const DEFAULT_MTU = 1420;
