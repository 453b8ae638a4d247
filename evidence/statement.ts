// The evidence of one deployment as an in-toto Statement v1: the artifact is the subject, the
// gate's record of the request, the rule it applied, every answer and the outcome is the
// predicate. Pure: the same deployment always gives the same statement.

import type {
  Approval,
  Decision,
  DeploymentRequest,
  DeploymentStatus,
  DeploymentView,
  DeployResult,
  FreezeHold,
  Override,
  RefusedAttempt,
} from '../policy/types';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://countersign.dev/deployment-approval/v1';

export interface StatementSubject {
  name: string;
  digest: { sha256: string };
}

export interface RecordedRule {
  tier: string;
  approvals: number;
  requiredGroups: string[];
  eligibleGroups: string[];
  expiresAfterMs: number;
  deployer: string;
  policyHash: string;
  ruleIndex: number;
}

export interface DeploymentApprovalPredicate {
  deployment: { id: string; status: DeploymentStatus };
  request: {
    service: string;
    environment: string;
    /** The pipeline principal that asked for the deployment. */
    requestedBy: string;
    requestedAt: string;
    expiresAt: string;
    requestId?: string;
    /** Principals resolved as the change's authors (or its trigger) when it was requested: never approvers. */
    excludedPrincipals: string[];
  };
  artifact: { name: string; digest: string };
  change: { commit: string; authors: string[]; requestedBy?: string; summary?: string; url?: string };
  rule: RecordedRule;
  approvals: Approval[];
  /** The latest refused attempts the gate kept whole (a few; see policy/refusals.ts). */
  refused: RefusedAttempt[];
  /** Every refused attempt the gate counted. */
  refusedCount: number;
  /**
   * Where each refused attempt is kept whole, with who and when: the hash-chained audit trail's
   * events of this deployment whose type ends in `.refused`.
   */
  refusedInAuditTrail: string;
  decision?: Decision;
  override?: Override;
  /** The change calendar held the approved deploy (or an override passed a freeze): when, why, what let it go. */
  freeze?: FreezeHold;
  /** CANCELLED because this newer request for the same service and environment superseded it. */
  supersededBy?: string;
  deploy?: Omit<DeployResult, 'output'>;
  temporal: { namespace?: string; workflowId: string; runId?: string; uiUrl?: string };
}

export interface InTotoStatement {
  _type: typeof STATEMENT_TYPE;
  subject: StatementSubject[];
  predicateType: typeof PREDICATE_TYPE;
  predicate: DeploymentApprovalPredicate;
}

export interface StatementInput {
  deployment: DeploymentView;
  request: DeploymentRequest;
  runId?: string;
  temporalUiUrl?: string;
  namespace?: string;
}

/** `sha256:<hex>` → `<hex>` (an in-toto digest set names the algorithm in its key). */
export function hexDigest(digest: string): string {
  return digest.replace(/^sha256:/, '');
}

export function temporalUiLink(uiUrl: string, namespace: string, workflowId: string, runId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/` +
    `${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
}

/**
 * Deliberately leaves out what changes after the deploy without changing what was decided
 * (`gitTag`, `version`), and the deployer's output: the evidence of a deployed request is stable,
 * so its sha256 can be recorded in the deployment's git tag.
 */
export function buildStatement(input: StatementInput): InTotoStatement {
  const { deployment, request, runId, temporalUiUrl, namespace } = input;
  const rule = request.rule;
  const change = deployment.change ?? request.change;
  const artifact = request.artifact;
  let deploy: Omit<DeployResult, 'output'> | undefined;
  if (deployment.deploy) {
    const { output: _output, ...rest } = deployment.deploy;
    deploy = rest;
  }
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: artifact.name, digest: { sha256: hexDigest(artifact.digest) } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      deployment: { id: deployment.id, status: deployment.status },
      request: {
        service: request.service,
        environment: request.environment,
        requestedBy: deployment.requestedBy ?? request.requester.id,
        requestedAt: request.requestedAt,
        expiresAt: request.expiresAt,
        requestId: request.requestId,
        excludedPrincipals: [...(request.excluded?.principalIds ?? [])],
      },
      artifact: { name: artifact.name, digest: artifact.digest },
      change: {
        commit: change.commit,
        authors: [...change.authors],
        requestedBy: change.requestedBy,
        summary: change.summary,
        url: change.url,
      },
      rule: {
        tier: rule.tier,
        approvals: rule.approvals,
        requiredGroups: [...rule.requiredGroups],
        eligibleGroups: [...rule.eligibleGroups],
        expiresAfterMs: rule.expiresAfterMs,
        deployer: rule.deployer,
        policyHash: rule.policyHash,
        ruleIndex: rule.ruleIndex,
      },
      approvals: deployment.approvals.map((approval) => ({ ...approval, groups: [...approval.groups] })),
      refused: deployment.refused.map((attempt) => ({ ...attempt })),
      refusedCount: deployment.refusedCount ?? deployment.refused.length,
      refusedInAuditTrail: `/v1/audit?deployment=${encodeURIComponent(deployment.id)}`,
      decision: deployment.decision,
      override: deployment.override,
      ...(deployment.freeze ? { freeze: deployment.freeze } : {}),
      ...(deployment.supersededBy ? { supersededBy: deployment.supersededBy } : {}),
      deploy,
      temporal: {
        namespace,
        workflowId: deployment.workflowId,
        runId,
        uiUrl: temporalUiUrl && namespace && runId ? temporalUiLink(temporalUiUrl, namespace, deployment.workflowId, runId) : undefined,
      },
    },
  };
}
