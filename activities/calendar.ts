// The change calendar and stale requests: the workflow's reads of the configuration as it is
// now, and the supersede step of a new request. Thin and idempotent, like every activity.

import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import { sameTarget } from '../database/deployment-index';
import type { Policy } from '../policy/config';
import { freezeAt } from '../policy/freezes';
import { canonicalName } from '../policy/names';
import { workflowIdFor } from '../policy/types';
import { supersedeUpdate } from '../workflows/definitions';
import type { CalendarActivities } from './types';

/** Supersede updates sent at once. */
const SUPERSEDE_AT_ONCE = 8;
/** How long one supersede update may wait for its gate's answer. */
const UPDATE_DEADLINE_MS = 30_000;

export function createCalendarActivities({ dataSource, policy }: { dataSource: DataSource; policy: () => Policy }): CalendarActivities {
  return {
    async checkFreeze({ service, environment }) {
      return freezeAt(policy().freezes, service, environment, Date.now());
    },

    async supersedeOlder({ id, service, environment, requestedAt }) {
      const context = Context.current();
      const key = `${canonicalName(service)}\n${canonicalName(environment)}`;
      const { olderPending, newer } = await sameTarget(dataSource, {
        id,
        requestedAt,
        same: (row) => `${canonicalName(row.service)}\n${canonicalName(row.environment)}` === key,
      });
      const cancelled: string[] = [];
      const supersede = async (older: string) => {
        try {
          // Bounded: a gate that does not answer in time fails this attempt, and the step is retried.
          const answer = await context.client.withDeadline(Date.now() + UPDATE_DEADLINE_MS, () =>
            context.client.workflow.getHandle(workflowIdFor(older)).executeUpdate(supersedeUpdate, { args: [{ by: id }] }));
          if (answer.outcome === 'accepted') cancelled.push(older);
        } catch (err) {
          // No longer PENDING (the gate turned it away), or its workflow has finished or never
          // started: nothing to cancel. Anything else (Temporal out of reach) is retried.
          if (!(err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError)) throw err;
        }
      };
      // A few at a time, each update waiting for that workflow's gate to answer; heartbeats meanwhile.
      const ticker = setInterval(() => context.heartbeat(), 5_000);
      try {
        for (let start = 0; start < olderPending.length; start += SUPERSEDE_AT_ONCE) {
          await Promise.all(olderPending.slice(start, start + SUPERSEDE_AT_ONCE).map(supersede));
        }
      } finally {
        clearInterval(ticker);
      }
      return { cancelled, ...(newer !== undefined ? { newer } : {}) };
    },
  };
}
