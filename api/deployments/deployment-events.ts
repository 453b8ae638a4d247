// Changes of deployments, pushed: one PostgreSQL connection LISTENs on the channel the index's
// trigger announces every change on (database/migrations/1765100000000-deployment-change-notify),
// reads the changed row once, and hands it to everyone following that deployment. Nothing polls.
// When the listening connection drops, it comes back with back-off and every follower re-reads,
// so a change announced while nobody listened is still seen.

import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Client as PgClient } from 'pg';
import type { DataSource } from 'typeorm';
import { DeploymentIndex } from '../../database/deployment-index';
import { DEPLOYMENT_CHANNEL } from '../../database/migrations/1765100000000-deployment-change-notify';
import type { DeploymentView } from '../../policy/types';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE } from '../tokens';

/** Called with the index's copy after a change, or with no view when the follower must re-read. */
export type ChangeListener = (view: DeploymentView | undefined) => void;

export const DEFAULT_STREAMS_PER_PRINCIPAL = 32;

@Injectable()
export class DeploymentEvents implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('DeploymentEvents');
  private readonly followers = new Map<string, Set<ChangeListener>>();
  private readonly streams = new Map<string, number>();
  private readonly index: DeploymentIndex;
  private client?: PgClient;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs = 250;
  private readonly gone = new WeakSet<PgClient>();
  private readonly enders = new Set<() => void>();
  /** True while the listening connection is up (readiness for pushes). */
  listening = false;

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
  ) {
    this.index = new DeploymentIndex(dataSource);
  }

  /** True once the API is shutting down: no new stream is opened. */
  get shuttingDown(): boolean {
    return this.closed;
  }

  get streamsPerPrincipal(): number {
    return this.options.eventStreamsPerPrincipal ?? DEFAULT_STREAMS_PER_PRINCIPAL;
  }

  async onModuleInit(): Promise<void> {
    // Start-up does not wait on it: followers re-read once it is up.
    void this.connect();
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    // Open streams would hold the HTTP server's close: they end now, and clients reconnect.
    for (const end of [...this.enders]) end();
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }

  private connectionString(): string | undefined {
    return (this.dataSource.options as { url?: string }).url;
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    if (!this.connectionString()) {
      // Without a URL there is nothing to LISTEN with: streams read afresh at each keep-alive instead.
      this.logger.warn('the database was given without a URL: event streams fall back to reading at each keep-alive');
      return;
    }
    const client = new PgClient({ connectionString: this.connectionString(), connectionTimeoutMillis: 5_000, keepAlive: true });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel !== DEPLOYMENT_CHANNEL || !message.payload) return;
      const id = message.payload.split(' ')[0];
      void this.announce(id);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${DEPLOYMENT_CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.listening = true;
    this.retryDelayMs = 250;
    // Whatever changed while nobody listened: every follower reads afresh.
    for (const listeners of this.followers.values()) for (const listener of listeners) listener(undefined);
  }

  private lost(client: PgClient, err?: Error): void {
    // 'error' and 'end' can both come for one connection: it is handled once.
    if (this.gone.has(client)) return;
    this.gone.add(client);
    if (this.client === client) this.client = undefined;
    this.listening = this.client !== undefined;
    client.end().catch(() => undefined);
    if (this.closed || this.retryTimer) return;
    this.logger.warn(`listening for deployment changes stopped${err ? ` (${err.message})` : ''}; reconnecting in ${this.retryDelayMs} ms`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5_000);
  }

  /** One read of the changed row for every follower of it. */
  private async announce(id: string): Promise<void> {
    const listeners = this.followers.get(id);
    if (!listeners || listeners.size === 0) return;
    let view: DeploymentView | undefined;
    try {
      view = (await this.index.find(id))?.view;
    } catch (err) {
      this.logger.warn(`deployment ${id} changed but could not be read (${(err as Error).message}); its followers re-read`);
    }
    for (const listener of [...listeners]) listener(view);
  }

  /** Follows one deployment until the returned function is called. */
  follow(id: string, listener: ChangeListener): () => void {
    let listeners = this.followers.get(id);
    if (!listeners) {
      listeners = new Set();
      this.followers.set(id, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners!.delete(listener);
      if (listeners!.size === 0 && this.followers.get(id) === listeners) this.followers.delete(id);
    };
  }

  /** Registers how to end a stream when the API shuts down; returns the unregistration. */
  onShutdown(end: () => void): () => void {
    this.enders.add(end);
    return () => this.enders.delete(end);
  }

  /** Takes one of the principal's streams; false when it holds as many as it may. */
  acquireStream(principal: string): boolean {
    const held = this.streams.get(principal) ?? 0;
    if (held >= this.streamsPerPrincipal) return false;
    this.streams.set(principal, held + 1);
    return true;
  }

  releaseStream(principal: string): void {
    const held = (this.streams.get(principal) ?? 1) - 1;
    if (held <= 0) this.streams.delete(principal);
    else this.streams.set(principal, held);
  }

  /** How many deployments are followed, and by how many streams (for tests and metrics). */
  stats(): { deployments: number; followers: number } {
    let followers = 0;
    for (const listeners of this.followers.values()) followers += listeners.size;
    return { deployments: this.followers.size, followers };
  }
}
