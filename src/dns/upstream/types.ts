// What every upstream transport offers the resolver.

export interface Upstream {
  /** The URL as configured. */
  readonly name: string;
  /**
   * Sends the query (its ID already chosen by the caller) and resolves with the raw response whose ID
   * and question match; rejects on timeout, transport error or a response that does not belong to it.
   * A transport may send the query with another ID (DoH uses 0, RFC 8484 §4.1) and restores the
   * caller's ID in the response it returns.
   */
  query(msg: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): void;
}

export interface TlsTrust {
  /** PEM CA certificates to trust instead of the system store (tests, private resolvers). */
  ca?: string | Buffer;
}
