// Failed authentication is limited per client, so tokens cannot be guessed at speed.

export class FailureRateLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly maxFailures = 20,
    readonly windowMs = 60_000,
  ) {}

  /** Milliseconds until the client may try again, or 0 when it is not limited. */
  retryAfterMs(client: string, now = Date.now()): number {
    const recent = this.recent(client, now);
    return recent.length >= this.maxFailures ? recent[0] + this.windowMs - now : 0;
  }

  recordFailure(client: string, now = Date.now()): void {
    const recent = this.recent(client, now);
    recent.push(now);
    this.failures.set(client, recent);
    if (this.failures.size > 10_000) this.prune(now);
  }

  private recent(client: string, now: number): number[] {
    return (this.failures.get(client) ?? []).filter((at) => now - at < this.windowMs);
  }

  private prune(now: number): void {
    for (const [client, times] of this.failures) {
      if (times.every((at) => now - at >= this.windowMs)) this.failures.delete(client);
    }
  }
}
