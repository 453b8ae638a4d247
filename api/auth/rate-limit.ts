// Failed authentication is limited per client, so tokens cannot be guessed at speed.

import { Inject, Injectable } from '@nestjs/common';
import { Problem } from '../problem';
import { API_OPTIONS, type ApiOptions } from '../tokens';

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

/**
 * One budget of failed authentications per client for the whole API: a bearer token and a
 * webhook secret are both guessed the same way, so guesses at either count against both.
 */
@Injectable()
export class AuthFailures {
  private readonly limiter: FailureRateLimiter;

  constructor(@Inject(API_OPTIONS) options: ApiOptions) {
    this.limiter = new FailureRateLimiter(options.authFailuresPerMinute ?? 20);
  }

  /** 429, with Retry-After, while the client has used up its failures. */
  assertMayTry(client: string, secret: string): void {
    const wait = this.limiter.retryAfterMs(client);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new Problem(429, 'too-many-failures',
        `too many failed authentications from this client; wait ${seconds} s and check your ${secret}`,
        {}, { 'Retry-After': String(seconds) });
    }
  }

  record(client: string): void {
    this.limiter.recordFailure(client);
  }
}
