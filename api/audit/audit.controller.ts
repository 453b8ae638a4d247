import { Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { rowToEvent, verifyAuditChain } from '../../database/audit-trail';
import type { AuditEventEntity } from '../../database/entities/audit-event.entity';
import { NoWorkflowHistory, reconcileAll, reconcileDeployment } from '../../database/reconcile';
import { Roles } from '../auth/actor';
import { AuditService } from './audit.service';
import { instantParameter } from '../input-guard';
import { badRequest, notFound } from '../problem';
import { DATA_SOURCE, TEMPORAL_CLIENT } from '../tokens';

const instant = (name: string, value?: string): string | undefined => instantParameter(name, value)?.toISOString();

export function auditEventView(row: AuditEventEntity) {
  const { eventId, ...event } = rowToEvent(row);
  return { seq: Number(row.seq), id: eventId, ...event, deploymentId: event.deploymentId || null, prevHash: row.prevHash, hash: row.hash };
}

@Controller('v1/audit')
@Roles('admin')
export class AuditController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    private readonly audit: AuditService,
  ) {}

  /** Pages forward through the trail in chain order; `next` is the `after` of the next page. */
  @Get()
  async list(
    @Query('deployment') deployment?: string,
    @Query('since') since?: string,
    @Query('until') until?: string,
    @Query('actor') actor?: string,
    @Query('type') type?: string,
    @Query('after') after?: string,
    @Query('limit') limit?: string,
  ) {
    const from = instant('since', since);
    const to = instant('until', until);
    if (after !== undefined && !/^\d{1,18}$/.test(after)) throw badRequest(`after must be the \`next\` value of an earlier page, got ${JSON.stringify(after)}`);
    const size = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(size) || size < 1 || size > 1000) throw badRequest(`limit must be a whole number from 1 to 1000, got ${JSON.stringify(limit)}`);
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
  async reconcile(@Query('deployment') deployment?: string, @Query('since') since?: string) {
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
  async verify() {
    return verifyAuditChain(this.db);
  }
}
