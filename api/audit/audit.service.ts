import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { type AuditFilter, appendAuditEvents, listAuditEvents } from '../../database/audit-trail';
import { DATA_SOURCE } from '../tokens';

export interface ApiAuditEvent {
  type: string;
  actor: string;
  deploymentId?: string;
  outcome?: string;
  reason?: string;
  data?: Record<string, unknown>;
}

/** Events the API itself witnesses (refused authentication, answers to closed deployments). */
@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');

  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async record(event: ApiAuditEvent): Promise<void> {
    try {
      await appendAuditEvents(this.db, [
        {
          eventId: `api:${randomUUID()}`,
          deploymentId: event.deploymentId ?? '',
          type: event.type,
          actor: event.actor,
          at: new Date().toISOString(),
          outcome: event.outcome,
          reason: event.reason,
          data: event.data ?? {},
        },
      ]);
    } catch (err) {
      // Refusing the request already protects the gate; a lost record of it is logged loudly.
      this.logger.error(`could not record audit event ${event.type} by ${event.actor}: ${(err as Error).message}`);
    }
  }

  /** A page of the trail in chain order (GET /v1/audit). */
  async list(filter: AuditFilter) {
    return listAuditEvents(this.db, filter);
  }
}
