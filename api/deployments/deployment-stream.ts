// GET /v1/deployments/{id}/events: a deployment's changes as server-sent events. One event per
// version (`id:` the version, `data:` the deployment as GET answers it), a keep-alive comment
// while nothing changes, and the end of the stream after a terminal status. A client that comes
// back with `Last-Event-ID` gets the current state at once when it is newer than what it saw.

import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isTerminal, type DeploymentView } from '../../policy/types';
import type { Actor } from '../auth/actor';
import { Problem } from '../problem';
import { API_OPTIONS, type ApiOptions } from '../tokens';
import { DeploymentEvents } from './deployment-events';
import { DeploymentsService, type SourcedView } from './deployments.service';

export const DEFAULT_KEEP_ALIVE_MS = 15_000;
/**
 * One stream lasts at most this long; the client reconnects (with Last-Event-ID, missing
 * nothing) and authenticates again, so a revoked token or an expired CI token stops there.
 */
export const DEFAULT_STREAM_MAX_MS = 15 * 60_000;
/** What a client waits before reconnecting after the stream drops (the `retry:` field). */
export const RECONNECT_AFTER_MS = 2_000;

/** `Last-Event-ID` as this stream writes it: a version, a whole number; anything else means none. */
export function lastEventVersion(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d{1,9}$/.test(value.trim())) return -1;
  return Number(value.trim());
}

/** One server-sent event for one version of the deployment. */
export function deploymentEvent(view: DeploymentView): string {
  // JSON.stringify escapes every line break, so the data is one `data:` line.
  return `id: ${view.version}\nevent: deployment\ndata: ${JSON.stringify(view)}\n\n`;
}

@Injectable()
export class DeploymentStreams {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly events: DeploymentEvents,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
  ) {}

  /** 404 for a deployment this principal may not see; then one of its streams, or 429 / 503. */
  private async admit(actor: Actor, id: string): Promise<void> {
    await this.deployments.assertVisible(actor, id);
    if (this.events.shuttingDown) {
      throw new Problem(503, 'shutting-down', 'the API is shutting down; reconnect in a moment (with Last-Event-ID)', {}, { 'retry-after': '2' });
    }
    if (!this.events.acquireStream(actor.id)) {
      throw new Problem(429, 'too-many-streams',
        `${actor.id} already follows ${this.events.streamsPerPrincipal} deployments (event streams and waits), the most one principal may at once; ` +
          'close one (or follow fewer deployments at a time) and try again', { limit: this.events.streamsPerPrincipal });
    }
  }

  /**
   * Long-poll: the deployment once its version is greater than `version` (at once when it is,
   * or it is closed), else after `waitMs` as it stands. Holds one of the principal's streams.
   */
  async waitForVersion(actor: Actor, id: string, version: number, waitMs: number, res: Response): Promise<SourcedView> {
    await this.admit(actor, id);
    let wake: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const unfollow = this.events.follow(id, (view) => {
      if (!view || view.version > version) wake();
    });
    const unregister = this.events.onShutdown(() => wake());
    const timer = setTimeout(() => wake(), waitMs);
    // The client gave up: nothing to wait for (the response's close, not the request's, which
    // may come as soon as its empty body is read).
    res.on('close', () => wake());
    try {
      const first = await this.deployments.get(actor, id);
      if (first.view.version > version || isTerminal(first.view.status)) return first;
      await woken;
      return await this.deployments.get(actor, id);
    } finally {
      clearTimeout(timer);
      unfollow();
      unregister();
      this.events.releaseStream(actor.id);
    }
  }

  async open(actor: Actor, id: string, req: Request, res: Response): Promise<void> {
    // 404 for a deployment this principal may not see, before anything else is said.
    await this.admit(actor, id);

    let sent = lastEventVersion(req.headers['last-event-id']);
    let closed = false;
    let reading: Promise<void> = Promise.resolve();
    let keepAlive: NodeJS.Timeout | undefined;
    let lifetime: NodeJS.Timeout | undefined;
    /** The last read failed (the database or the gate did not answer): the next keep-alive reads again. */
    let stale = false;
    const write = (text: string) => {
      if (!closed && !res.writableEnded && !res.destroyed) res.write(text);
    };
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(keepAlive);
      clearTimeout(lifetime);
      unfollow();
      unregister();
      this.events.releaseStream(actor.id);
      if (!res.writableEnded) res.end();
    };
    const send = (view: DeploymentView) => {
      if (closed) return;
      if (view.version > sent) {
        sent = view.version;
        write(deploymentEvent(view));
      }
      // Sent now, or seen before the client reconnected: nothing more will come.
      if (isTerminal(view.status)) close();
    };
    // Reads are serialised, so events go out in order; each reads the freshest state.
    const reread = () => {
      reading = reading.then(async () => {
        if (closed) return;
        try {
          send((await this.deployments.get(actor, id)).view);
          stale = false;
        } catch {
          // The next change or keep-alive tries again; the stream stays open.
          stale = true;
        }
      });
    };

    // Follow first, then read: a change between the two is announced, never lost.
    const unfollow = this.events.follow(id, (view) => {
      if (view) reading = reading.then(() => send(view));
      else reread();
    });
    // On shutdown the connection goes too, so that a client's next request reaches the next server.
    const unregister = this.events.onShutdown(() => {
      close();
      req.socket.destroySoon?.();
    });
    res.on('close', close);

    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache, no-transform');
    res.setHeader('connection', 'keep-alive');
    // Proxies (nginx) must not buffer the stream.
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    write(`retry: ${RECONNECT_AFTER_MS}\n: following the deployment\n\n`);

    const keepAliveMs = this.options.eventKeepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    keepAlive = setInterval(() => {
      write(`: keep-alive ${new Date().toISOString()}\n\n`);
      // Pushes need the listening connection; without it (or after a failed read), each keep-alive reads afresh.
      if (!this.events.listening || stale) reread();
    }, keepAliveMs);
    keepAlive.unref();
    lifetime = setTimeout(() => {
      write(': reconnect: this stream has lasted as long as one may\n\n');
      close();
    }, this.options.eventStreamMaxMs ?? DEFAULT_STREAM_MAX_MS);
    lifetime.unref();

    reread();
    await reading;
  }
}
