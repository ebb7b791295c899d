// How a pool picks one member among the usable candidates. Each strategy is a small object with
// its own state; all take the candidate list (already filtered by health and tags) and a key for
// hashing, and return an index into it.
import type { Member } from './member.js';

export type StrategyName = 'round-robin' | 'random' | 'least-connections' | 'weighted' | 'hash';

export interface Strategy {
  pick(candidates: readonly Member[], hashKey: string): Member;
}

class RoundRobin implements Strategy {
  private next = 0;
  pick(c: readonly Member[]): Member {
    const m = c[this.next % c.length]!;
    this.next = (this.next + 1) % 0x40000000;
    return m;
  }
}

class RandomPick implements Strategy {
  pick(c: readonly Member[]): Member {
    return c[Math.floor(Math.random() * c.length)]!;
  }
}

/** Fewest open connections; ties are broken round-robin so idle members share the load. */
class LeastConnections implements Strategy {
  private next = 0;
  pick(c: readonly Member[]): Member {
    const start = this.next++ % c.length;
    let best = c[start]!;
    for (let i = 1; i < c.length; i++) {
      const m = c[(start + i) % c.length]!;
      if (m.active < best.active) best = m;
    }
    return best;
  }
}

/**
 * Smooth weighted round-robin (the algorithm nginx uses): every pick adds each candidate's weight
 * to its running score, takes the highest, and subtracts the total from it. Picks are spread evenly
 * (weights 5,1,1 give a a b a c a a, not a a a a a b c), and a changing candidate set needs no reset.
 */
class Weighted implements Strategy {
  pick(c: readonly Member[]): Member {
    let total = 0;
    let best: Member | null = null;
    for (const m of c) {
      m.current += m.weight;
      total += m.weight;
      if (best === null || m.current > best.current) best = m;
    }
    best!.current -= total;
    return best!;
  }
}

/**
 * Rendezvous (highest-random-weight) hashing of the destination host: the same host keeps the same
 * member, and when a member leaves only the hosts that were on it move.
 */
class HashOfDestination implements Strategy {
  pick(c: readonly Member[], key: string): Member {
    let best = c[0]!;
    let bestScore = -1;
    const h = fnv1a(key, 0x811c9dc5);
    for (const m of c) {
      const s = fnv1a(m.name, h);
      if (s > bestScore) {
        bestScore = s;
        best = m;
      }
    }
    return best;
  }
}

/**
 * Weighted rendezvous hashing of `key`: a function of the key, the candidates' names and weights
 * only — no state — so every process with the same candidates picks the same member (cluster
 * workers agreeing on a sticky session's exit). Score weight / -ln(u), u uniform in (0,1) from the
 * hash (Schindelhauer and Schomaker, "Weighted distributed hash tables", 2005): each member wins
 * in proportion to its weight, and removing one moves only the keys it held.
 */
export function rendezvous(c: readonly Member[], key: string): Member {
  let best = c[0]!;
  let bestScore = -1;
  const h = fnv1a(key, 0x811c9dc5);
  for (const m of c) {
    const u = (fnv1a(m.name, h) + 0.5) / 4294967296;
    const score = m.weight / -Math.log(u);
    if (score > bestScore) {
      bestScore = score;
      best = m;
    }
  }
  return best;
}

/** FNV-1a, 32 bits, continuing from `h`; a final avalanche step spreads similar names apart. */
export function fnv1a(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export function makeStrategy(name: StrategyName): Strategy {
  switch (name) {
    case 'round-robin':
      return new RoundRobin();
    case 'random':
      return new RandomPick();
    case 'least-connections':
      return new LeastConnections();
    case 'weighted':
      return new Weighted();
    case 'hash':
      return new HashOfDestination();
  }
}
