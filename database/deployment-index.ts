// The deployments table is an index of what each workflow last reported: a snapshot is
// written only over an older version, so retries and reconciliation never move it back.
// The API's and the worker's reads and writes of the table are here, through the entity and
// TypeORM's query builder (the metrics' counts read it too: api/health/metrics.ts).

import type { DataSource, EntityManager, Repository, SelectQueryBuilder } from 'typeorm';
import type { DeploymentRequest, DeploymentStatus, DeploymentView } from '../policy/types';
import { DeploymentEntity } from './entities/deployment.entity';
import { requestedEvent } from '../workflows/definitions';
import { appendAuditEventsIn } from './audit-trail';
import { storableJson } from './storable';

/**
 * Who reads the index: people who approve or administer read every deployment
 * (`readsAll`), a pipeline only the ones it requested. The one rule, for a row and a listing.
 */
export interface IndexReader {
  id: string;
  readsAll: boolean;
}

export interface DeploymentListFilter {
  service?: string;
  environment?: string;
  status?: DeploymentStatus;
  overridden?: boolean;
  reviewOverdue?: boolean;
  /** Rows strictly older than this (requested_at, id), newest first. */
  before?: { at: string; id: string };
  limit: number;
}

export interface DeploymentListPage {
  rows: Array<Pick<DeploymentEntity, 'id' | 'view' | 'requestedAt'>>;
  /** The last row of the page when more follow it (the next page's `before`). */
  more: Pick<DeploymentEntity, 'id' | 'requestedAt'> | null;
}

export class DeploymentIndex {
  /** On a data source, or on a transaction's manager (the worker writes a row with its audit events). */
  constructor(private readonly db: DataSource | EntityManager) {}

  private get repository(): Repository<DeploymentEntity> {
    return this.db.getRepository(DeploymentEntity);
  }

  /** Inserts or advances the deployment's row from a workflow snapshot; true when the row changed. */
  async write(snapshot: DeploymentView): Promise<boolean> {
    return (await this.writeAll([snapshot])) > 0;
  }

  /**
   * `write` for many deployments in one statement (the worker's writes that share a
   * transaction, database/change-recorder.ts); how many rows changed.
   */
  async writeAll(snapshots: readonly DeploymentView[]): Promise<number> {
    // One row per deployment, its newest snapshot (one statement cannot touch a row twice), in
    // id order so that writers of overlapping rows lock them in the same order.
    const newest = new Map<string, DeploymentView>();
    for (const snapshot of snapshots) {
      const seen = newest.get(snapshot.id);
      if (!seen || snapshot.version > seen.version) newest.set(snapshot.id, snapshot);
    }
    if (newest.size === 0) return 0;
    const rows = [...newest.keys()].sort().map((id) => {
      // As PostgreSQL can store it (database/storable.ts): never a write that can only fail.
      const view = storableJson(newest.get(id)!).value;
      return {
        id: view.id,
        workflowId: view.workflowId,
        service: view.service,
        environment: view.environment,
        status: view.status,
        tier: view.tier,
        requestedBy: view.requestedBy,
        artifactDigest: view.artifact.digest,
        requestedAt: new Date(view.requestedAt),
        version: view.version,
        view,
      };
    });
    const result = await this.db
      .createQueryBuilder()
      .insert()
      .into(DeploymentEntity)
      .values(rows)
      // Newest version wins: an older snapshot (a retry, a reconcile) leaves the row as it is.
      .orUpdate(['status', 'version', 'view'], ['id'], { overwriteCondition: { where: '"deployments"."version" < EXCLUDED."version"' } })
      .returning(['id'])
      .execute();
    return (result.raw as unknown[]).length;
  }

  /**
   * A new request, before its workflow starts: its row, and the trail's first event of it
   * (`requestedEvent`), in one transaction; false, and nothing written, when the id is already
   * there (a concurrent request with the same requestId won).
   */
  async insertRequested(request: DeploymentRequest & { requestRecorded: true }, view: DeploymentView, requestedBy: string): Promise<boolean> {
    return this.db.transaction(async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .insert()
        .into(DeploymentEntity)
        .values({
          id: request.id,
          workflowId: view.workflowId,
          service: request.service,
          environment: request.environment,
          status: 'PENDING',
          tier: request.rule.tier,
          requestedBy,
          artifactDigest: request.artifact.digest,
          requestedAt: new Date(request.requestedAt),
          version: 0,
          view,
          request,
        })
        .orIgnore()
        .returning(['id'])
        .execute();
      if ((result.raw as unknown[]).length === 0) return false;
      // The row first, then the trail, whose lock is held to the commit.
      await appendAuditEventsIn(manager, [requestedEvent(request)]);
      return true;
    });
  }

  async find(id: string): Promise<DeploymentEntity | null> {
    return this.repository.findOneBy({ id });
  }

  /** The row, when it exists and the reader may see it; null otherwise (callers answer 404 alike). */
  async findReadable(reader: IndexReader, id: string): Promise<DeploymentEntity | null> {
    const row = await this.find(id);
    return row && (reader.readsAll || row.requestedBy === reader.id) ? row : null;
  }

  /**
   * Whether the deployment exists and the reader may see it (the rule of `findReadable`): one
   * primary-key read of one column, for callers that need nothing of the row (an answer to the
   * gate, which answers with the gate's own view).
   */
  async isReadable(reader: IndexReader, id: string): Promise<boolean> {
    const row = await this.repository.createQueryBuilder('d').select(['d.id', 'd.requestedBy']).where('d.id = :id', { id }).getOne();
    return row !== null && (reader.readsAll || row.requestedBy === reader.id);
  }

  /** A page of the rows the reader may see, newest first. */
  async list(reader: IndexReader, filter: DeploymentListFilter): Promise<DeploymentListPage> {
    const rows = await this.listQuery(reader, filter).getMany();
    const page = rows.slice(0, filter.limit);
    const last = page[page.length - 1];
    return { rows: page, more: rows.length > filter.limit && last ? last : null };
  }

  /**
   * The listing's query. Every filter is a column that an index of the migration
   * 1765000000000-deployment-listing-indexes leads with (or a partial index's condition), and
   * every index ends in the sort (requested_at DESC, id DESC), which is also the keyset
   * cursor: a page reads about one page of rows, whatever the table holds
   * (test/e2e/listing-index.test.ts holds the planner to it at 10,000 rows).
   */
  listQuery(reader: IndexReader, filter: DeploymentListFilter): SelectQueryBuilder<DeploymentEntity> {
    const query = this.repository
      .createQueryBuilder('d')
      .select(['d.id', 'd.view', 'd.requestedAt'])
      .orderBy('d.requestedAt', 'DESC')
      .addOrderBy('d.id', 'DESC')
      .limit(filter.limit + 1);
    readableBy(query, reader);
    if (filter.service) query.andWhere('d.service = :service', { service: filter.service });
    if (filter.environment) query.andWhere('d.environment = :environment', { environment: filter.environment });
    if (filter.status) query.andWhere('d.status = :status', { status: filter.status });
    // Written as the partial indexes' conditions (`WHERE overridden`), so that PostgreSQL can use them.
    if (filter.overridden === true) query.andWhere('d.overridden');
    if (filter.overridden === false) query.andWhere('NOT d.overridden');
    if (filter.reviewOverdue) query.andWhere('d.reviewOverdue');
    if (filter.before) {
      query.andWhere('(d.requestedAt, d.id) < (:beforeAt, :beforeId)', { beforeAt: filter.before.at, beforeId: filter.before.id });
    }
    return query;
  }

  /**
   * A batch of PENDING rows with their requests, newest first, strictly older than `before`:
   * what `waitingFor` filters person by person (deployments_by_status serves it).
   */
  async pendingBatch(filter: { service?: string; environment?: string; before?: { at: string; id: string }; limit: number }): Promise<Array<Pick<DeploymentEntity, 'id' | 'view' | 'request' | 'requestedAt'>>> {
    const query = this.repository
      .createQueryBuilder('d')
      .select(['d.id', 'd.view', 'd.request', 'd.requestedAt'])
      .where(`d.status = 'PENDING'`)
      .orderBy('d.requestedAt', 'DESC')
      .addOrderBy('d.id', 'DESC')
      .limit(filter.limit);
    if (filter.service) query.andWhere('d.service = :service', { service: filter.service });
    if (filter.environment) query.andWhere('d.environment = :environment', { environment: filter.environment });
    if (filter.before) {
      query.andWhere('(d.requestedAt, d.id) < (:beforeAt, :beforeId)', { beforeAt: filter.before.at, beforeId: filter.before.id });
    }
    return query.getMany();
  }

  /** The ids of every deployment, or of those requested since a time, oldest first. */
  async ids(options: { since?: Date } = {}): Promise<string[]> {
    const query = this.repository.createQueryBuilder('d').select('d.id').orderBy('d.requestedAt', 'ASC');
    if (options.since) query.where('d.requestedAt >= :since', { since: options.since });
    return (await query.getMany()).map((row) => row.id);
  }

  /** PENDING deployments of a commit, oldest first (a git tag on it may approve them). */
  async pendingOfCommit(commit: string): Promise<Array<Pick<DeploymentEntity, 'id' | 'service' | 'environment' | 'artifactDigest'>>> {
    return this.repository
      .createQueryBuilder('d')
      .select(['d.id', 'd.service', 'd.environment', 'd.artifactDigest'])
      .where(`d.status = 'PENDING'`)
      .andWhere(`d.view->'change'->>'commit' = :commit`, { commit })
      .orderBy('d.requestedAt', 'ASC')
      .addOrderBy('d.id', 'ASC')
      .getMany();
  }
}

/** Rows read per batch when looking for requests of the same service and environment. */
const SAME_TARGET_BATCH = 500;

/** The service and environment of a request, compared canonically (policy/names.ts). */
export interface Target {
  id: string;
  requestedAt: string;
  /** Whether a row names the same service and environment. */
  same(row: { service: string; environment: string }): boolean;
}

/**
 * Older PENDING requests for the same target (older by (requested_at, id), ids compared byte
 * for byte), oldest first; and
 * the newest newer request, in any status, whose rule supersedes. Names are compared
 * canonically in code, so both read in keyset batches: PENDING rows (the status index), and
 * rows newer than the request (the newest index, few at the time a request starts).
 */
export async function sameTarget(db: DataSource, target: Target): Promise<{ olderPending: string[]; newer?: string }> {
  const repository = db.getRepository(DeploymentEntity);
  const olderPending: string[] = [];
  let after: { at: Date; id: string } | undefined;
  for (;;) {
    const query = repository.createQueryBuilder('d')
      .select(['d.id', 'd.service', 'd.environment', 'd.requestedAt'])
      .where(`d.status = 'PENDING'`)
      .andWhere(`(d.requestedAt, d.id COLLATE "C") < (:at, :id COLLATE "C")`, { at: target.requestedAt, id: target.id })
      .orderBy('d.requestedAt', 'ASC')
      .addOrderBy('d.id COLLATE "C"', 'ASC')
      .limit(SAME_TARGET_BATCH);
    if (after) query.andWhere(`(d.requestedAt, d.id COLLATE "C") > (:afterAt, :afterId COLLATE "C")`, { afterAt: after.at, afterId: after.id });
    const rows = await query.getMany();
    olderPending.push(...rows.filter((row) => target.same(row)).map((row) => row.id));
    if (rows.length < SAME_TARGET_BATCH) break;
    const last = rows[rows.length - 1];
    after = { at: last.requestedAt, id: last.id };
  }
  let newer: string | undefined;
  let before: { at: Date; id: string } | undefined;
  for (;;) {
    const query = repository.createQueryBuilder('d')
      .select(['d.id', 'd.service', 'd.environment', 'd.requestedAt'])
      .where(`(d.requestedAt, d.id COLLATE "C") > (:at, :id COLLATE "C")`, { at: target.requestedAt, id: target.id })
      .andWhere(`d.request->'rule'->>'supersede' = 'true'`)
      .orderBy('d.requestedAt', 'DESC')
      .addOrderBy('d.id COLLATE "C"', 'DESC')
      .limit(SAME_TARGET_BATCH);
    if (before) query.andWhere(`(d.requestedAt, d.id COLLATE "C") < (:beforeAt, :beforeId COLLATE "C")`, { beforeAt: before.at, beforeId: before.id });
    const rows = await query.getMany();
    newer = rows.find((row) => target.same(row))?.id;
    if (newer !== undefined || rows.length < SAME_TARGET_BATCH) break;
    const last = rows[rows.length - 1];
    before = { at: last.requestedAt, id: last.id };
  }
  return { olderPending, newer };
}

/** The visibility rule as a listing condition (the same rule as `findReadable`). */
function readableBy(query: SelectQueryBuilder<DeploymentEntity>, reader: IndexReader): void {
  if (!reader.readsAll) query.andWhere('d.requestedBy = :reader', { reader: reader.id });
}

/** Inserts or advances the deployment's row; true when the row changed. */
export async function writeDeploymentView(db: DataSource, snapshot: DeploymentView): Promise<boolean> {
  return new DeploymentIndex(db).write(snapshot);
}
