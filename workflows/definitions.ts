// The workflow's public surface: what the API may send and ask. Imported by the API (the one
// trusted sender) and by the workflow itself.

import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import type { AuditEventInput } from '../activities/types';
import type {
  ApprovalInput,
  CancelInput,
  DeploymentRequest,
  DeploymentView,
  GateAnswer,
  OverrideInput,
  RejectionInput,
  ReviewInput,
  SupersedeInput,
} from '../policy/types';

export const TASK_QUEUE = 'countersign-deployments';

export const approveUpdate = defineUpdate<GateAnswer, [ApprovalInput]>('approve');
export const rejectUpdate = defineUpdate<GateAnswer, [RejectionInput]>('reject');
export const cancelUpdate = defineUpdate<GateAnswer, [CancelInput]>('cancel');
export const overrideUpdate = defineUpdate<GateAnswer, [OverrideInput]>('override');
export const reviewUpdate = defineUpdate<GateAnswer, [ReviewInput]>('review');
/** Countersign's own: a newer request for the same service and environment cancels this PENDING one. Never sent by the API. */
export const supersedeUpdate = defineUpdate<GateAnswer, [SupersedeInput]>('supersede');
export const deploymentQuery = defineQuery<DeploymentView>('deployment');
/** What the workflow holds but has not yet written (a write is failing): reconcile reads it. */
export const pendingWritesQuery = defineQuery<PendingWrites>('pendingWrites');
export interface PendingWrites {
  events: AuditEventInput[];
  view: DeploymentView;
}

/** Custom search attributes: the Temporal UI's live audit view filters on these. */
export const SearchKeys = {
  service: defineSearchAttributeKey('DeployService', 'KEYWORD'),
  environment: defineSearchAttributeKey('DeployEnvironment', 'KEYWORD'),
  digest: defineSearchAttributeKey('DeployArtifactDigest', 'KEYWORD'),
  tier: defineSearchAttributeKey('DeployTier', 'KEYWORD'),
  status: defineSearchAttributeKey('DeployStatus', 'KEYWORD'),
  requester: defineSearchAttributeKey('DeployRequester', 'KEYWORD'),
  approvers: defineSearchAttributeKey('DeployApprovers', 'KEYWORD_LIST'),
} as const;

/**
 * The search attributes a deployment's workflow starts with: the gate upserts status and
 * approvers only when they change from these.
 */
export function startingSearchAttributes(request: DeploymentRequest): SearchAttributePair[] {
  return [
    { key: SearchKeys.service, value: request.service },
    { key: SearchKeys.environment, value: request.environment },
    { key: SearchKeys.digest, value: request.artifact.digest },
    { key: SearchKeys.tier, value: request.rule.tier },
    { key: SearchKeys.status, value: 'PENDING' },
    { key: SearchKeys.requester, value: request.requester.id },
    { key: SearchKeys.approvers, value: [] },
  ];
}

/**
 * A deployment's first audit event, `<id>:1`: the request as accepted. The API writes it with
 * the index row (`requestRecorded`); reconcile rebuilds it from the workflow's input.
 */
export function requestedEvent(request: DeploymentRequest): AuditEventInput {
  return {
    eventId: `${request.id}:1`,
    deploymentId: request.id,
    type: 'deployment.requested',
    actor: request.requester.id,
    at: request.requestedAt,
    outcome: 'PENDING',
    data: { request },
  };
}
