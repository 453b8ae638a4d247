import { Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { rowToEvent, verifyAuditChain } from '../../database/audit-trail';
import type { AuditEventEntity } from '../../database/entities/audit-event.entity';
import { NoWorkflowHistory, reconcileAll, reconcileDeployment } from '../../database/reconcile';
import { Roles } from '../auth/actor';
import { AuditService } from './audit.service';
import { ListAuditQuery, ReconcileQuery } from '../dto/requests';
import { Answer, AUTHENTICATED_PROBLEMS, Problems } from '../dto/responses';
import { instantParameter } from '../input-guard';
import { notFound } from '../problem';
import { DATA_SOURCE, TEMPORAL_CLIENT } from '../tokens';
import { ValidQuery } from '../validation';

const instant = (name: string, value?: string): string | undefined => instantParameter(name, value)?.toISOString();

export function auditEventView(row: AuditEventEntity) {
  const { eventId, ...event } = rowToEvent(row);
  return { seq: Number(row.seq), id: eventId, ...event, deploymentId: event.deploymentId || null, prevHash: row.prevHash, hash: row.hash };
}

@Controller('v1/audit')
@Roles('admin')
@Problems(AUTHENTICATED_PROBLEMS)
export class AuditController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    private readonly audit: AuditService,
  ) {}

  /** Pages forward through the trail in chain order; `next` is the `after` of the next page. */
  @Get()
  @ApiOperation({ summary: 'Page through the audit trail in chain order (admin)' })
  @Answer(200, 'a page', 'AuditPage')
  @Problems({ 400: 'a filter is not one of its documented values' })
  async list(@ValidQuery() query: ListAuditQuery) {
    const { deployment, since, until, actor, type, after, limit } = query;
    const from = instant('since', since);
    const to = instant('until', until);
    const size = limit!;
    const { events, next } = await this.audit.list({
      deploymentId: deployment || undefined,
      actor: actor || undefined,
      type: type || undefined,
      since: from ? new Date(from) : undefined,
      until: to ? new Date(to) : undefined,
      after,
      limit: size,
    });
    return { events: events.map(auditEventView), next };
  }

  /** Re-derives audit events from workflow histories and appends the missing ones. */
  @Post('reconcile')
  @HttpCode(200)
  @ApiOperation({ summary: 'Fill in audit events the database missed, re-derived from workflow histories (admin); never duplicates' })
  @Answer(200, 'what was added', 'ReconcileReport')
  @Problems({ 400: 'since is not an ISO 8601 time', 404: 'no workflow history for that deployment' })
  async reconcile(@ValidQuery() query: ReconcileQuery) {
    const { deployment, since } = query;
    const from = instant('since', since);
    // Open or closed, every run of the workflow is read. No workflow: 404. PostgreSQL or
    // Temporal out of reach: 503 (api/problem.ts), never mistaken for a missing history.
    const results = deployment
      ? [await reconcileDeployment(this.db, this.temporal, deployment).catch((err: unknown) => {
          if (err instanceof NoWorkflowHistory) {
            throw notFound(`deployment ${deployment} has no workflow history to reconcile from: no such deployment was requested, or its history is past Temporal's retention`);
          }
          throw err;
        })]
      : await reconcileAll(this.db, this.temporal, { since: from ? new Date(from) : undefined });
    return { results, eventsAdded: results.reduce((sum, result) => sum + result.eventsAdded, 0) };
  }

  @Get('verify')
  @ApiOperation({ summary: 'Walk the hash chain (admin)' })
  @Answer(200, '`ok: true` and the head, or the first broken link', 'AuditVerdict')
  async verify() {
    return verifyAuditChain(this.db);
  }
}
