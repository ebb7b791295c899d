// Cryptokey routing table (§2, §4 of the whitepaper): a longest-prefix-match map from IP prefixes to
// peers, one path-compressed binary trie per address family. Keys are raw address bytes, so the data
// path can look up a header slice without building strings.
//
// Invariants: every node's `key` is masked to its `bits`; a child's prefix extends its parent's and
// its first extra bit selects which child slot it is in; a node without a value has two children
// (otherwise it is spliced out), so the depth is bounded by the number of stored prefixes.

import { formatCidr, maskInPlace, parseCidr } from './ip.js';

class Node<T> {
  readonly children: [Node<T> | null, Node<T> | null] = [null, null];
  constructor(
    readonly key: Uint8Array,
    readonly bits: number,
    public value: T | null,
  ) {}
}

function bitAt(key: Uint8Array, i: number): 0 | 1 {
  return ((key[i >>> 3]! >>> (7 - (i & 7))) & 1) as 0 | 1;
}

/** Number of equal leading bits of a and b, at most `limit`. */
function commonBits(a: Uint8Array, b: Uint8Array, limit: number): number {
  let i = 0;
  for (; i * 8 < limit; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) {
      const n = i * 8 + Math.clz32(x) - 24;
      return n < limit ? n : limit;
    }
  }
  return limit;
}

function masked(addr: Uint8Array, bits: number): Uint8Array {
  const k = Uint8Array.from(addr);
  maskInPlace(k, bits);
  return k;
}

function insertAt<T>(node: Node<T> | null, key: Uint8Array, bits: number, value: T): Node<T> {
  if (node === null) return new Node(masked(key, bits), bits, value);
  const common = commonBits(node.key, key, Math.min(node.bits, bits));
  if (common === node.bits) {
    if (node.bits === bits) {
      node.value = value;
      return node;
    }
    const b = bitAt(key, node.bits);
    node.children[b] = insertAt(node.children[b], key, bits, value);
    return node;
  }
  const fresh = new Node(masked(key, bits), bits, value);
  if (common === bits) {
    // The new prefix contains the existing node: it becomes its parent.
    fresh.children[bitAt(node.key, bits)] = node;
    return fresh;
  }
  // The prefixes diverge at bit `common`: join them under a valueless branch node.
  const branch = new Node<T>(masked(key, common), common, null);
  branch.children[bitAt(node.key, common)] = node;
  branch.children[bitAt(key, common)] = fresh;
  return branch;
}

/** Restores the invariant after a node lost its value or a child. */
function compact<T>(node: Node<T>): Node<T> | null {
  if (node.value !== null) return node;
  const [a, b] = node.children;
  if (a !== null && b !== null) return node;
  return a ?? b;
}

function removeAt<T>(
  node: Node<T> | null,
  key: Uint8Array,
  bits: number,
  only: T | undefined,
): Node<T> | null {
  if (node === null || node.bits > bits) return node;
  if (commonBits(node.key, key, node.bits) < node.bits) return node;
  if (node.bits === bits) {
    if (only === undefined || node.value === only) node.value = null;
  } else {
    const b = bitAt(key, node.bits);
    node.children[b] = removeAt(node.children[b], key, bits, only);
  }
  return compact(node);
}

function removeValue<T>(node: Node<T> | null, value: T): Node<T> | null {
  if (node === null) return null;
  node.children[0] = removeValue(node.children[0], value);
  node.children[1] = removeValue(node.children[1], value);
  if (node.value === value) node.value = null;
  return compact(node);
}

function walk<T>(node: Node<T> | null, fn: (n: Node<T>) => void): void {
  if (node === null) return;
  fn(node);
  walk(node.children[0], fn);
  walk(node.children[1], fn);
}

export class AllowedIps<T> {
  private v4: Node<T> | null = null;
  private v6: Node<T> | null = null;

  /** Maps the prefix to `value`, replacing any previous owner of exactly this prefix (as `wg` does). */
  insert(addr: Uint8Array, bits: number, value: T): void {
    checkPrefix(addr, bits);
    if (addr.length === 4) this.v4 = insertAt(this.v4, addr, bits, value);
    else this.v6 = insertAt(this.v6, addr, bits, value);
  }

  /** Removes exactly this prefix; with `only`, only if it currently maps to that value. */
  remove(addr: Uint8Array, bits: number, only?: T): void {
    checkPrefix(addr, bits);
    if (addr.length === 4) this.v4 = removeAt(this.v4, addr, bits, only);
    else this.v6 = removeAt(this.v6, addr, bits, only);
  }

  removeValue(value: T): void {
    this.v4 = removeValue(this.v4, value);
    this.v6 = removeValue(this.v6, value);
  }

  clear(): void {
    this.v4 = this.v6 = null;
  }

  /** Longest-prefix match of a full address (4 or 16 bytes, may be a subarray of a packet). */
  lookup(addr: Uint8Array): T | null {
    let node = addr.length === 4 ? this.v4 : addr.length === 16 ? this.v6 : null;
    const max = addr.length * 8;
    let best: T | null = null;
    while (node !== null) {
      if (commonBits(node.key, addr, node.bits) < node.bits) break;
      if (node.value !== null) best = node.value;
      if (node.bits === max) break;
      node = node.children[bitAt(addr, node.bits)];
    }
    return best;
  }

  /** All prefixes owned by `value`, as [addr, bits] pairs, v4 first, in trie order. */
  entriesOf(value: T): Array<{ addr: Uint8Array; bits: number }> {
    const out: Array<{ addr: Uint8Array; bits: number }> = [];
    const collect = (n: Node<T>): void => {
      if (n.value === value) out.push({ addr: Uint8Array.from(n.key), bits: n.bits });
    };
    walk(this.v4, collect);
    walk(this.v6, collect);
    return out;
  }

  /** CIDR-string helpers for configuration. */
  insertCidr(cidr: string, value: T): void {
    const p = parseCidr(cidr);
    this.insert(p.addr, p.bits, value);
  }

  removeCidr(cidr: string, only?: T): void {
    const p = parseCidr(cidr);
    this.remove(p.addr, p.bits, only);
  }

  cidrsOf(value: T): string[] {
    return this.entriesOf(value).map(formatCidr);
  }
}

function checkPrefix(addr: Uint8Array, bits: number): void {
  if (
    (addr.length !== 4 && addr.length !== 16) ||
    !Number.isInteger(bits) ||
    bits < 0 ||
    bits > addr.length * 8
  ) {
    throw new RangeError(`invalid prefix: ${addr.length}-byte address with ${bits} bits`);
  }
}
