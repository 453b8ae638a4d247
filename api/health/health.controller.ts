import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiProduces } from '@nestjs/swagger';
import { Client } from '@temporalio/client';
import { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { Public } from '../auth/actor';
import { Answer, Problems } from '../dto/responses';
import { Problem, RETRY_AFTER_SECONDS } from '../problem';
import { DATA_SOURCE, TEMPORAL_CLIENT } from '../tokens';
import { Metrics } from './metrics';

const READY_DEADLINE_MS = 1_000;

function withinDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

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
  @Answer(200, 'the process is alive', 'Alive')
  healthz() {
    return { ok: true };
  }

  /**
   * The process can serve: the database and Temporal answer. Both are asked at once, each
   * within READY_DEADLINE_MS, so an unreachable server is a prompt 503, never a hung probe.
   */
  @Get('readyz')
  @Answer(200, 'the database and Temporal answer', 'Ready')
  @Problems({ 503: 'not ready; `detail` and `checks` name what is down' })
  async readyz() {
    const check = (work: () => Promise<unknown>) =>
      withinDeadline(work(), READY_DEADLINE_MS).then(() => 'ok', (err: Error) => err.message || String(err));
    const [database, temporal] = await Promise.all([
      // A ping reads no table, so no entity expresses it: the one SQL string outside database/.
      check(() => this.db.query('SELECT 1')),
      check(() => this.temporal.withDeadline(Date.now() + READY_DEADLINE_MS, () => this.temporal.workflowService.getSystemInfo({}))),
    ]);
    const checks: Record<string, string> = { database, temporal };
    const failing = Object.entries(checks).filter(([, value]) => value !== 'ok');
    if (failing.length) {
      throw new Problem(503, 'not-ready', `not ready: ${failing.map(([name, value]) => `${name}: ${value}`).join('; ')}`, { checks }, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    }
    return { ok: true, checks };
  }

  @Get('metrics')
  @ApiProduces('text/plain')
  @Answer(200, 'Prometheus metrics, in the text exposition format')
  @Header('content-type', Registry.PROMETHEUS_CONTENT_TYPE)
  async prometheus() {
    return this.metrics.render();
  }
}
