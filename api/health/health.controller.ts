import { Controller, Get, Header, Inject } from '@nestjs/common';
import { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { Public } from '../auth/actor';
import { Problem } from '../problem';
import { DATA_SOURCE, TEMPORAL_CLIENT } from '../tokens';
import { Metrics } from './metrics';

@Controller()
@Public()
export class HealthController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    private readonly metrics: Metrics,
  ) {}

  /** The process is alive. */
  @Get('healthz')
  healthz() {
    return { ok: true };
  }

  /** The process can serve: the database and Temporal answer. */
  @Get('readyz')
  async readyz() {
    const checks: Record<string, string> = {};
    await this.db.query('SELECT 1').then(() => (checks.database = 'ok'), (err: Error) => (checks.database = err.message));
    await this.temporal.workflowService
      .getSystemInfo({})
      .then(() => (checks.temporal = 'ok'), (err: Error) => (checks.temporal = err.message));
    const failing = Object.entries(checks).filter(([, value]) => value !== 'ok');
    if (failing.length) {
      throw new Problem(503, 'not-ready', `not ready: ${failing.map(([name, value]) => `${name}: ${value}`).join('; ')}`, { checks });
    }
    return { ok: true, checks };
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4')
  async prometheus() {
    return this.metrics.render(this.db);
  }
}
