// DNS over a byte stream (TCP, TLS): every message is preceded by its length as two bytes, network
// order (RFC 1035 §4.2.2; RFC 7858 §3.3 keeps the framing for TLS). FrameReader turns chunks into
// whole messages; frame() adds the prefix.

export class FrameReader {
  private pending: Buffer | null = null;

  /** Feeds one chunk; calls onMessage for every complete message it finishes. A zero-length message is
   * passed on too and left for the caller to reject. */
  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 2) {
      const len = buf.readUInt16BE(off);
      if (buf.length - off - 2 < len) break;
      onMessage(buf.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    if (off === buf.length) this.pending = null;
    else {
      // Copy the remainder so the chunk it came from can be freed.
      buf = Buffer.from(buf.subarray(off));
      this.pending = buf;
    }
  }

  /** Bytes received that do not yet form a whole message. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }
}

/** The message with its two-byte length prefix. */
export function frame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  out.set(msg, 2);
  return out;
}
