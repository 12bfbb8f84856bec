/**
 * Pacing for `--rate` (bulk sending, `bench`): a token bucket, at most `rate` messages a second, in bursts of
 * at most `burst`. A request may need more than `burst` (a trigger to 100 channels is 100 messages, as Pusher
 * counts them): it waits for a full bucket and leaves the bucket in debt, so the requests after it wait that
 * much longer and the average stays at `rate`.
 */
export class RateLimiter {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Waits until `n` messages may go; returns early (taking nothing) when `signal` is aborted. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    const needed = Math.min(n, this.burst);
    for (;;) {
      if (signal?.aborted) return;
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
      if (this.tokens >= needed) {
        this.tokens -= n;
        return;
      }
      const waitMs = ((needed - this.tokens) * 1000) / this.rate;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, Math.ceil(waitMs)));
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
}
