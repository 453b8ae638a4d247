// GET /metrics: Prometheus metrics through prom-client, one registry per API.
//
// Two kinds of series. What happens in this process is counted as it happens: HTTP requests
// and refused answers. What the gate decides happens in workflows, on whichever worker, and
// lands in the deployments index; those series are read from the index at scrape time (two
// grouped queries), so they are exact, survive restarts of any process, and every API replica
// reports the same values (aggregate them across replicas with max, not sum):
//
//   countersign_deployments{status}                      gauge      the index by status
//   countersign_pending_deployments{tier}                gauge      waiting for approval
//   countersign_approval_wait_seconds{tier,outcome}      histogram  requested → APPROVED (by quorum
//                                                                   or override), REJECTED, EXPIRED
//                                                                   or CANCELLED
//   countersign_deploys_total{deployer,outcome}          counter    DEPLOYED or FAILED
//   countersign_refusals_total{reason}                   counter    refused answers, by the gate's reason
//   countersign_notification_failures_total{channel}     counter    messages recorded as failed (notification_deliveries)
//   countersign_http_requests_total{method,route,status} counter
// and prom-client's default process metrics (process_*, nodejs_*).

import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { catchError, type Observable, throwError } from 'rxjs';
import type { DataSource } from 'typeorm';
import { DeploymentEntity } from '../../database/entities/deployment.entity';
import { NotificationDeliveryEntity } from '../../database/entities/notification-delivery.entity';
import { Problem } from '../problem';
import { DATA_SOURCE } from '../tokens';

/** Upper bounds of the approval wait buckets: a minute to a week. */
export const APPROVAL_WAIT_BUCKETS = [60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 2 * 86400, 7 * 86400];

/** The statuses that end the wait without an approval; any other past PENDING was approved. */
const ENDED_UNAPPROVED = `('REJECTED', 'EXPIRED', 'CANCELLED')`;

interface IndexCount {
  status: string;
  tier: string;
  deployer: string | null;
  count: number;
}

interface ApprovalWaits {
  tier: string;
  outcome: string;
  count: number;
  sum: number;
  /** Per bucket, the deployments that waited at most its upper bound (`le0`, `le1`, …). */
  [bucket: `le${number}`]: number;
}

/** Failed notifications by channel: one grouped query on a partial index. */
async function notificationFailures(db: DataSource): Promise<Array<{ channel: string; count: number }>> {
  return db
    .getRepository(NotificationDeliveryEntity)
    .createQueryBuilder('n')
    .select('n.channel', 'channel')
    .addSelect('count(*)::int', 'count')
    .where(`n.status = 'failed'`)
    .groupBy('n.channel')
    .getRawMany();
}

/** The deployments index by status, tier and deployer: one grouped query. */
async function indexCounts(db: DataSource): Promise<IndexCount[]> {
  return db
    .getRepository(DeploymentEntity)
    .createQueryBuilder('d')
    .select('d.status', 'status')
    .addSelect('d.tier', 'tier')
    .addSelect(`d.view->>'deployer'`, 'deployer')
    .addSelect('count(*)::int', 'count')
    .groupBy('d.status')
    .addGroupBy('d.tier')
    .addGroupBy(`d.view->>'deployer'`)
    .getRawMany<IndexCount>();
}

/**
 * How a deployment's wait ended, and when. A deployment approved and then deployed (or failed)
 * keeps only its latest decision in the view, so its approval time is the override's, or else
 * the approval that made the quorum (the last: none is accepted after it).
 */
const OUTCOME = `CASE WHEN d.status IN ${ENDED_UNAPPROVED} THEN d.status ELSE 'APPROVED' END`;
const DECIDED_AT = `(CASE WHEN d.status IN ${ENDED_UNAPPROVED} THEN d.view->'decision'->>'at'
  WHEN d.view->'override' IS NOT NULL THEN d.view->'override'->>'at'
  ELSE d.view->'approvals'->-1->>'at' END)::timestamptz`;
/** Seconds from request to decision. */
const WAIT = `greatest(0, extract(epoch FROM ${DECIDED_AT} - d.requestedAt))`;

/**
 * How long decided deployments waited, counted into the buckets by PostgreSQL: one grouped
 * query, one row per tier and outcome whatever the number of deployments.
 */
async function approvalWaits(db: DataSource): Promise<ApprovalWaits[]> {
  const query = db
    .getRepository(DeploymentEntity)
    .createQueryBuilder('d')
    .select('d.tier', 'tier')
    .addSelect(OUTCOME, 'outcome')
    .addSelect('count(*)::int', 'count')
    .addSelect(`sum(${WAIT})::float8`, 'sum')
    .where(`d.status <> 'PENDING'`)
    .andWhere(`${DECIDED_AT} IS NOT NULL`)
    .groupBy('d.tier')
    .addGroupBy(OUTCOME);
  // The bounds are this module's constants, never input.
  APPROVAL_WAIT_BUCKETS.forEach((le, i) => query.addSelect(`(count(*) FILTER (WHERE ${WAIT} <= ${le}))::int`, `le${i}`));
  return query.getRawMany<ApprovalWaits>();
}

/**
 * A histogram whose buckets are counted elsewhere (by PostgreSQL, from the index) rather than
 * observed in this process. prom-client formats it as any histogram; only the numbers come
 * from `read` at each scrape.
 */
class CountedHistogram<T extends string> extends Histogram<T> {
  private readonly config: { name: string; help: string; buckets: readonly number[] };

  constructor(
    config: { name: string; help: string; labelNames: readonly T[]; buckets: number[]; registers: Registry[] },
    /** Per series, the cumulative count at each of `config.buckets`, the count and the sum. */
    private readonly read: () => Promise<Array<{ labels: Record<T, string>; buckets: number[]; count: number; sum: number }>>,
  ) {
    super(config);
    this.config = config;
  }

  /** What prom-client's registry formats (the histogram's own series are never observed). */
  async getForPromString() {
    const { name, help, buckets: bounds } = this.config;
    const values = [];
    for (const { labels, buckets, count, sum } of await this.read()) {
      bounds.forEach((le, i) => {
        values.push({ metricName: `${name}_bucket`, labels: { le }, sharedLabels: labels, value: buckets[i] ?? 0 });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, sharedLabels: labels, value: count });
      values.push({ metricName: `${name}_sum`, labels: {}, sharedLabels: labels, value: sum });
      values.push({ metricName: `${name}_count`, labels: {}, sharedLabels: labels, value: count });
    }
    return { name, help, type: 'histogram' as const, values, aggregator: 'sum' as const };
  }
}

@Injectable()
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'countersign_http_requests_total',
    help: 'HTTP requests answered.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly refusals = new Counter({
    name: 'countersign_refusals_total',
    help: 'Answers (approvals, rejections, cancels, overrides, reviews) the gate refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /**
   * Read from notification_deliveries at scrape time, like the index's series: exact whichever
   * worker sent. Exported at 0 (no label) before any failure, so alerts can be built at once.
   */
  readonly notificationFailures = new Counter({
    name: 'countersign_notification_failures_total',
    help: 'Notifications recorded as failed after their retries, by channel (notification_deliveries).',
    labelNames: ['channel'] as const,
    registers: [this.registry],
    collect: async () => {
      const rows = await notificationFailures(this.db).catch(() => []);
      this.notificationFailures.reset();
      if (rows.length === 0) this.notificationFailures.inc(0);
      for (const row of rows) this.notificationFailures.inc({ channel: row.channel }, row.count);
    },
  });
  /** The index's counts, read once per scrape for the three series below. */
  private counts: Promise<IndexCount[]> | undefined;

  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {
    collectDefaultMetrics({ register: this.registry });
    const counts = () => (this.counts ??= indexCounts(this.db).catch(() => []));
    new Gauge({
      name: 'countersign_deployments',
      help: 'Deployments in the index, by status.',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await counts()) this.inc({ status: row.status }, row.count);
      },
    });
    new Gauge({
      name: 'countersign_pending_deployments',
      help: 'Deployments waiting for approval, by tier.',
      labelNames: ['tier'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await counts()) if (row.status === 'PENDING') this.inc({ tier: row.tier }, row.count);
      },
    });
    new Counter({
      name: 'countersign_deploys_total',
      help: 'Deployments whose deploy ended, by deployer and outcome (DEPLOYED or FAILED).',
      labelNames: ['deployer', 'outcome'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const row of await counts()) {
          if (row.status === 'DEPLOYED' || row.status === 'FAILED') this.inc({ deployer: row.deployer ?? 'unknown', outcome: row.status }, row.count);
        }
      },
    });
    new CountedHistogram(
      {
        name: 'countersign_approval_wait_seconds',
        help: 'How long decided deployments waited for the decision, from request to APPROVED, REJECTED, EXPIRED or CANCELLED.',
        labelNames: ['tier', 'outcome'] as const,
        buckets: APPROVAL_WAIT_BUCKETS,
        registers: [this.registry],
      },
      async () =>
        (await approvalWaits(this.db).catch(() => [])).map((row) => ({
          labels: { tier: row.tier, outcome: row.outcome },
          buckets: APPROVAL_WAIT_BUCKETS.map((_, i) => row[`le${i}`]),
          count: row.count,
          sum: row.sum,
        })),
    );
  }

  countRequest(method: string, route: string, status: number): void {
    this.requests.inc({ method, route, status: String(status) });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; the index is read once for it. */
  async render(): Promise<string> {
    try {
      return await this.registry.metrics();
    } finally {
      this.counts = undefined;
    }
  }
}

/**
 * Counts every refused answer by the gate's reason: a refusal is the problem document that
 * names one (`reason`), whichever route or layer refused it.
 */
@Injectable()
export class RefusalMetricsInterceptor implements NestInterceptor {
  constructor(private readonly metrics: Metrics) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((err: unknown) => {
        const reason = err instanceof Problem ? err.extensions.reason : undefined;
        if (typeof reason === 'string') this.metrics.refusals.inc({ reason });
        return throwError(() => err);
      }),
    );
  }
}
