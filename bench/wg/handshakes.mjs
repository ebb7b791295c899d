#!/usr/bin/env node
// Handshakes per second of Ferry's Noise_IKpsk2 core on one core: full exchanges (initiation,
// response, session keys on both sides) and the responder's share alone (consume an initiation,
// create the response), which is what a server under a handshake flood spends per message.
// Run after `npm run build`: node bench/wg/handshakes.mjs [seconds]
import { generatePrivateKey, publicKeyFrom } from '../../dist/src/wireguard/crypto.js';
import { Handshake, createInitiation, consumeInitiation, createResponse, consumeResponse, deriveSession } from '../../dist/src/wireguard/noise.js';

const seconds = Number(process.argv[2] ?? 3);
const id = () => { const privateKey = generatePrivateKey(); return { privateKey, publicKey: publicKeyFrom(privateKey) }; };
const a = id();
const b = id();
const hsA = new Handshake(b.publicKey);
hsA.precompute(a);
const hsB = new Handshake(a.publicKey);
hsB.precompute(b);

// TAI64N timestamps must increase per peer across both measurements (replays are refused).
let wall = Date.now();
function measure(label, fn) {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() < end) { wall += 1000; fn(wall, n++); }
  const rate = n / ((performance.now() - t0) / 1000);
  console.log(`RESULT metric=${label} value=${rate.toFixed(0)} unit=handshakes/s`);
}

let now = 0;
let respTime = 0;
let respN = 0;
measure('full_exchange', (wall, i) => {
  const init = createInitiation(a, hsA, i + 1, generatePrivateKey(), wall);
  now += 25; // past the 20 ms per-peer initiation limit
  const r = consumeInitiation(b, init, () => hsB, now);
  if (!r.ok) throw new Error('initiation refused');
  const resp = createResponse(hsB, i + 1, generatePrivateKey());
  if (!consumeResponse(a, resp, () => hsA)) throw new Error('response refused');
  if (!deriveSession(hsA) || !deriveSession(hsB)) throw new Error('no session');
});
measure('responder_only', (wall, i) => {
  const init = createInitiation(a, hsA, i + 1, generatePrivateKey(), wall);
  now += 25;
  const t = performance.now();
  const r = consumeInitiation(b, init, () => hsB, now);
  if (!r.ok) throw new Error('initiation refused');
  createResponse(hsB, i + 1, generatePrivateKey());
  respTime += performance.now() - t;
  respN++;
});

console.log(`RESULT metric=responder_share value=${(respN / (respTime / 1000)).toFixed(0)} unit=handshakes/s`);
