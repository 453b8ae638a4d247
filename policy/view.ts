// The deployment as the API shows it, built from the request and what the gate has seen.

import type {
  Approval,
  Decision,
  DeploymentRequest,
  DeploymentStatus,
  DeploymentView,
  DeployResult,
  FreezeHold,
  GitTagResult,
  Override,
  RefusedAttempt,
} from './types';

export interface GateProgress {
  status: DeploymentStatus;
  approvals: Approval[];
  /** The latest few refused attempts. */
  refused: RefusedAttempt[];
  /** Every refused attempt counted; `refused.length` when omitted. */
  refusedCount?: number;
  decision?: Decision;
  deploy?: DeployResult;
  override?: Override;
  gitTag?: GitTagResult;
  freeze?: FreezeHold;
  supersededBy?: string;
  version: number;
}

export function deploymentView(request: DeploymentRequest, workflowId: string, progress: GateProgress): DeploymentView {
  return {
    id: request.id,
    status: progress.status,
    service: request.service,
    environment: request.environment,
    tier: request.rule.tier,
    requiredApprovals: request.rule.approvals,
    requiredGroups: request.rule.requiredGroups,
    eligibleGroups: request.rule.eligibleGroups,
    approvals: [...progress.approvals],
    refused: [...progress.refused],
    refusedCount: progress.refusedCount ?? progress.refused.length,
    artifact: request.artifact,
    change: request.change,
    requestId: request.requestId,
    requestedBy: request.requester.id,
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
    decision: progress.decision,
    deploy: progress.deploy,
    override: progress.override,
    gitTag: progress.gitTag,
    ...(progress.freeze ? { freeze: progress.freeze } : {}),
    ...(progress.supersededBy ? { supersededBy: progress.supersededBy } : {}),
    deployer: request.rule.deployer,
    policyHash: request.rule.policyHash,
    workflowId,
    version: progress.version,
  };
}

export function pendingView(request: DeploymentRequest, workflowId: string): DeploymentView {
  return deploymentView(request, workflowId, { status: 'PENDING', approvals: [], refused: [], refusedCount: 0, version: 0 });
}
