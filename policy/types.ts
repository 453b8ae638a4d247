// The vocabulary of the gate, shared by the workflow, the activities, the API and the CLI.
// Plain data only: everything here crosses the Temporal boundary as JSON.

/** Every status a deployment can be in: the one list the gate, the API, its schemas and /docs use. */
export const DEPLOYMENT_STATUSES = [
  'PENDING',
  'APPROVED',
  'DEPLOYING',
  'DEPLOYED',
  'REJECTED',
  'EXPIRED',
  'CANCELLED',
  'FAILED',
] as const;

export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export const TERMINAL_STATUSES: readonly DeploymentStatus[] = [
  'DEPLOYED',
  'REJECTED',
  'EXPIRED',
  'CANCELLED',
  'FAILED',
];

export function isTerminal(status: DeploymentStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export interface Artifact {
  name: string;
  /** `sha256:` followed by 64 lowercase hex characters. */
  digest: string;
}

export interface Change {
  commit: string;
  /** Identities as the change carries them (emails, logins, Co-authored-by trailers). */
  authors: string[];
  requestedBy?: string;
  summary?: string;
  url?: string;
}

/** The rule of a tier, as the policy stated it when the request was made. */
export interface TierRule {
  tier: string;
  approvals: number;
  requiredGroups: string[];
  /** Empty means anyone with the approver role may approve. */
  eligibleGroups: string[];
  expiresAfterMs: number;
  /** A newer request for the same service and environment cancels older PENDING ones (absent: no). */
  supersede?: boolean;
  /** Who is told, and when (the `notify:` keys of the tier); absent: nobody is notified. */
  notify?: NotifyRule;
}

/**
 * A tier's notifications, fixed into the request like its deployer: channels are named, their
 * definitions (URLs, secrets) stay in the configuration, out of workflow histories.
 */
export interface NotifyRule {
  channels: string[];
  /** A reminder every so often while the request waits. */
  remindEveryMs?: number;
  /** Once, this long after the request, to the members of `escalateTo`. */
  escalateAfterMs?: number;
  escalateTo: string[];
}

export type DeployerSpec =
  | { name: string; type: 'log' }
  | { name: string; type: 'command'; run: string[] }
  | { name: string; type: 'webhook'; url: string; secret?: string };

/** Everything the gate decided up front, fixed in the workflow's input. */
export interface AppliedRule extends TierRule {
  /** Deployers are named, not inlined: secrets stay in the configuration, out of history. */
  deployer: string;
  /** sha256 of the policy file the rule was taken from. */
  policyHash: string;
  /** Index of the matching rule in `rules`, for the evidence. */
  ruleIndex: number;
  /** Where a DEPLOYED request is recorded as an annotated tag, when the policy names a repository. */
  git?: { repo: string; tagFormat: string };
}

/**
 * A person as the gate sees them: the principal id plus every identity they are known by,
 * already normalised (see identity.ts).
 */
export interface Person {
  id: string;
  identities: string[];
  groups: string[];
}

export interface DeploymentRequest {
  id: string;
  service: string;
  environment: string;
  artifact: Artifact;
  change: Change;
  requestId?: string;
  /** The pipeline principal that asked for the deployment. */
  requester: Person;
  /**
   * The change's authors and the person who triggered the pipeline, resolved to identities:
   * principal ids of the people who claim them, and the raw identities themselves, so that an
   * account that claims an author's identity later still cannot approve.
   */
  excluded: { principalIds: string[]; identities: string[] };
  rule: AppliedRule;
  requestedAt: string;
  expiresAt: string;
  /**
   * The API wrote the request's first audit event (`deployment.requested`, event 1) with its
   * index row, in one transaction, as it accepted the request: the workflow does not write them
   * again. Absent for requests accepted before the API did (their workflows write both).
   */
  requestRecorded?: true;
}

export interface Approval {
  approver: string;
  at: string;
  digest: string;
  comment?: string;
  groups: string[];
}

/** Every reason the gate refuses an answer with: the one list the API's problems and /docs use. */
export const REFUSAL_REASONS = [
  'AUTHOR',
  'REQUESTER',
  'NOT_ELIGIBLE',
  'DIGEST_MISMATCH',
  'NOT_PENDING',
  'DUPLICATE',
  'EXPIRED',
  'NOT_PERMITTED',
  'NOT_OVERRIDDEN',
  'ALREADY_REVIEWED',
  'OVERRIDER',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The answers a deployment's gate hears, as refused attempts name them. */
export const ANSWER_KINDS = ['approval', 'rejection', 'cancel', 'override', 'review'] as const;

export type AnswerKind = (typeof ANSWER_KINDS)[number];

export interface RefusedAttempt {
  kind: AnswerKind;
  actor: string;
  at: string;
  reason: RefusalReason;
  detail: string;
  digest?: string;
}

export interface Decision {
  status: DeploymentStatus;
  at: string;
  by?: string;
  reason: string;
}

export interface DeployResult {
  ok: boolean;
  deployer: string;
  digest: string;
  at: string;
  output?: string;
  error?: string;
}

/** Break-glass: an admin let the request through on fewer approvals than its tier asks. */
export interface Override {
  by: string;
  at: string;
  reason: string;
  approvalsAtOverride: number;
  /** A retrospective review by an eligible approver is due within the tier's window. */
  reviewDueBy: string;
  review?: { by: string; at: string; comment?: string; late: boolean };
  reviewOverdue: boolean;
  /** Break-glass through the change calendar: the deploy passes any freeze (given with the override, or while held). */
  passFreeze?: boolean;
}

/**
 * A deploy the change calendar held (policy/freezes.ts): present once a freeze has met the
 * approved request, before its deploy started.
 */
export interface FreezeHold {
  /** True while the deploy waits for the freeze to end. */
  frozen: boolean;
  /** Why: the reasons of the windows in force when last checked. */
  reason: string;
  /** When the freeze ends, as last checked (the calendar is read again before the deploy). */
  until: string;
  /** The names of the windows in force when last checked. */
  windows: string[];
  heldSince: string;
  releasedAt?: string;
  /** What let it go: the freeze ended, a break-glass override passed it, or the request expired or was cancelled while held. */
  released?: 'ended' | 'overridden' | 'expired' | 'cancelled';
  /** The override that passed the freeze. */
  passedBy?: { by: string; at: string; reason: string };
}

export interface GitTagResult {
  tag: string;
  commit: string;
  pushed: boolean;
  detail?: string;
}

/** What `GET /v1/deployments/{id}` answers and the workflow's query returns. */
export interface DeploymentView {
  id: string;
  status: DeploymentStatus;
  service: string;
  environment: string;
  tier: string;
  requiredApprovals: number;
  requiredGroups: string[];
  eligibleGroups: string[];
  approvals: Approval[];
  /** The latest refused attempts (at most a few, see policy/refusals.ts); all of them are in the audit trail. */
  refused: RefusedAttempt[];
  /** Every refused attempt the gate counted on this deployment. */
  refusedCount: number;
  artifact: Artifact;
  change: Change;
  requestId?: string;
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  decision?: Decision;
  deploy?: DeployResult;
  override?: Override;
  gitTag?: GitTagResult;
  /** Present once the change calendar has held (or an override has passed) the deploy. */
  freeze?: FreezeHold;
  /** The newer request for the same service and environment that cancelled this one. */
  supersededBy?: string;
  deployer: string;
  policyHash: string;
  workflowId: string;
  /** Increases with every change, so that stale writes of the listing index can be ignored. */
  version: number;
}

/** The refusals as one run of the workflow hands them to the next. */
export interface RefusalsCarried {
  /** The latest few, whole. */
  recent: RefusedAttempt[];
  count: number;
  /** Refused attempts per principal id, for the per-principal limit. */
  byActor: Record<string, number>;
}

/**
 * What one run of a deployment's workflow hands to the next when it continues as new (before
 * its history grows near Temporal's limits): everything the gate has decided and counted.
 */
export interface CarriedState {
  status: DeploymentStatus;
  approvals: Approval[];
  refusals: RefusalsCarried;
  decision?: Decision;
  deploy?: DeployResult;
  override?: Override;
  gitTag?: GitTagResult;
  freeze?: FreezeHold;
  supersededBy?: string;
  /** The supersede step has run (a continued run does not run it again). */
  supersedeChecked?: boolean;
  version: number;
  /** The last audit event number used: event ids stay unique across runs. */
  auditSequence: number;
  /** This run's place in the chain: 1 for the first run. */
  run: number;
}

/**
 * How long a reading of the calendar that finds no freeze anywhere holds for every service and
 * environment: an approval carries it (ApprovalInput.calendarClearUntil), so that the deploy its
 * quorum starts needs no second reading within this time. (Here, not in freezes.ts, so that the
 * workflow, which checks it, does not bundle the calendar's cron library.)
 */
export const CALENDAR_CLEAR_MS = 2_000;

export interface ApprovalInput {
  approver: Person;
  digest: string;
  comment?: string;
  /**
   * Set by the API from the change calendar as it sends the approval, never from a request:
   * until this instant no freeze is in force anywhere (policy/freezes.ts calendarClearUntil). A
   * quorum this approval meets before then starts its deploy without reading the calendar again.
   */
  calendarClearUntil?: string;
}

export interface RejectionInput {
  approver: Person;
  comment?: string;
}

export interface CancelInput {
  actor: { id: string; roles: string[] };
  reason?: string;
}

export interface OverrideInput {
  actor: Person & { roles: string[] };
  reason: string;
  /** Also pass the change calendar: the deploy does not wait for a freeze. */
  passFreeze?: boolean;
}

/** Sent by Countersign itself (an activity of the newer request's workflow), never by the API. */
export interface SupersedeInput {
  /** The newer deployment's id. */
  by: string;
}

export interface ReviewInput {
  approver: Person;
  comment?: string;
}

export type GateAnswer =
  | { outcome: 'accepted'; deployment: DeploymentView }
  | { outcome: 'refused'; reason: RefusalReason; detail: string; deployment: DeploymentView };

export function workflowIdFor(deploymentId: string): string {
  return `deployment-${deploymentId}`;
}
