// A token bucket for byte rates, shared by every connection of one user (and direction). Taking
// more than is available is allowed and leaves a debt; the caller is told how long to wait before
// it reads again, which is how a relay turns a rate into TCP backpressure: it pauses the socket, the
// kernel's receive buffer fills, and the sender's window closes.
export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param rate  bytes per second
   * @param burst bytes that may pass at once after an idle period (default: 1/10 s of rate, at least 64 KiB)
   */
  constructor(
    private rate: number,
    private burst = Math.max(65536, rate / 10),
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  setRate(rate: number, burst = Math.max(65536, rate / 10)): void {
    this.refill();
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }

  /** Takes n bytes; returns 0 to go on now, or the milliseconds to wait before taking more. */
  take(n: number): number {
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}
