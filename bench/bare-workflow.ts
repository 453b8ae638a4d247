// The baseline: bare Temporal doing the same shape of work as one Countersign deployment. A
// workflow is started, counts two approval updates from distinct people (answering each at
// once, with no write inside the handler), then runs one activity that writes one row to
// PostgreSQL, and ends. What Countersign adds on top of this is what the benchmark measures.

import { condition, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BareActivities } from './bare-worker';

export interface BareAnswer {
  approvals: number;
  status: 'PENDING' | 'APPROVED';
}

export const bareApproveUpdate = defineUpdate<BareAnswer, [string]>('approve');

const { recordDeployed } = proxyActivities<BareActivities>({ startToCloseTimeout: '30 seconds' });

export async function bareDeploymentWorkflow(id: string, required: number): Promise<string> {
  const approvers = new Set<string>();
  let status: BareAnswer['status'] = 'PENDING';
  setHandler(
    bareApproveUpdate,
    (who) => {
      approvers.add(who);
      if (approvers.size >= required) status = 'APPROVED';
      return { approvals: approvers.size, status };
    },
    {
      validator: (who) => {
        if (status !== 'PENDING') throw new Error('no longer pending');
        if (approvers.has(who)) throw new Error('already approved');
      },
    },
  );
  // The same expiry timer a Countersign request carries.
  const approved = await condition(() => status === 'APPROVED', '24 hours');
  if (!approved) return 'EXPIRED';
  await recordDeployed(id, [...approvers]);
  return 'DEPLOYED';
}
