import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ApplicationFailure,
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { createHash, randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { NameError, RuleError, resolveRequestNames, resolveRule } from '../../policy/config';
import { checkReview } from '../../policy/gate';
import { configuredSpelling, scopeMatches } from '../../policy/names';
import { withSkeletons } from '../../policy/confusables';
import { authorKeys } from '../../policy/identity';
import { TOO_MANY_REFUSALS, tooManyRefusalsDetail } from '../../policy/refusals';
import {
  isTerminal,
  workflowIdFor,
  type DeploymentRequest,
  type DeploymentStatus,
  type DeploymentView,
  type GateAnswer,
  type RefusalReason,
} from '../../policy/types';
import { pendingView } from '../../policy/view';
import type { PolicyHolder } from '../../settings/policy-file';
import {
  approveUpdate,
  cancelUpdate,
  deploymentQuery,
  overrideUpdate,
  rejectUpdate,
  reviewUpdate,
  SearchKeys,
} from '../../workflows/definitions';
import type { deploymentWorkflow } from '../../workflows/deployment';
import { type Actor, asPerson } from '../auth/actor';
import { AuditService } from '../audit/audit.service';
import { PrincipalsService } from '../principals/principals.service';
import { badCharacter, instantParameter } from '../input-guard';
import { conflict, forbidden, invalid, notFound, Problem } from '../problem';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, POLICY, TEMPORAL_CLIENT } from '../tokens';

export interface CreateDeploymentBody {
  service: string;
  environment: string;
  artifact: { name: string; digest: string };
  change: { commit: string; authors: string[]; requestedBy?: string; summary?: string; url?: string };
  requestId?: string;
  minimumTier?: string;
}

/** How each refusal the gate gives is answered over HTTP. */
const REFUSAL_STATUS: Record<RefusalReason, number> = {
  AUTHOR: 403,
  REQUESTER: 403,
  NOT_ELIGIBLE: 403,
  NOT_PERMITTED: 403,
  DIGEST_MISMATCH: 409,
  NOT_PENDING: 409,
  DUPLICATE: 409,
  EXPIRED: 409,
  NOT_OVERRIDDEN: 409,
  ALREADY_REVIEWED: 409,
  OVERRIDER: 403,
};

const LIST_LIMIT = 200;

/**
 * Where a view came from: `workflow` is the live gate, `final` the index's copy of a closed
 * deployment (complete by then), `index` the index's copy of an open one that may lag.
 */
export type ViewSource = 'workflow' | 'final' | 'index';
export interface SourcedView {
  view: DeploymentView;
  source: ViewSource;
}

interface DeploymentRow {
  id: string;
  status: DeploymentStatus;
  requested_by: string;
  view: DeploymentView;
  request: DeploymentRequest;
}

@Injectable()
export class DeploymentsService {
  private readonly logger = new Logger('Deployments');

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    @Inject(POLICY) private readonly policy: PolicyHolder,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  private handle(id: string): WorkflowHandle<typeof deploymentWorkflow> {
    return this.temporal.workflow.getHandle(workflowIdFor(id));
  }

  /** The same pipeline's same requestId names the same deployment; otherwise a fresh id. */
  private deploymentId(actor: Actor, requestId?: string): string {
    if (requestId === undefined) return randomUUID();
    const hex = createHash('sha256').update(`${actor.id}\n${requestId}`).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }

  private assertInScope(actor: Actor, service: string, environment: string): void {
    if (actor.scopes.length === 0) return;
    // Canonically, never wider than written: a scope for production covers PRODUCTION, web-* never webhooks.
    if (actor.scopes.some((scope) => scopeMatches(scope.service, service) && scopeMatches(scope.environment, environment))) return;
    throw forbidden('out-of-scope',
      `${actor.id} may request deployments only for ${actor.scopes.map((s) => `${s.service} in ${s.environment}`).join('; ')}, ` +
        `not ${service} in ${environment}`);
  }

  /** The names as the policy spells them, before any check: 422 for an environment it does not know. */
  private resolveNames(body: CreateDeploymentBody): CreateDeploymentBody {
    try {
      return { ...body, ...resolveRequestNames(this.policy.current(), body) };
    } catch (err) {
      if (err instanceof NameError) throw new Problem(422, `unknown-${err.kind}`, err.message, { known: err.known });
      throw err;
    }
  }

  async create(actor: Actor, requested: CreateDeploymentBody): Promise<{ created: boolean; deployment: DeploymentView }> {
    const body = this.resolveNames(requested);
    this.assertInScope(actor, body.service, body.environment);
    const id = this.deploymentId(actor, body.requestId);

    const existing = await this.row(id);
    if (existing) {
      assertSameRequest(existing.request, body);
      await this.ensureStarted(existing.request);
      return { created: false, deployment: (await this.current(existing)).view };
    }

    let rule;
    try {
      rule = resolveRule(this.policy.current(), body.service, body.environment, body.minimumTier);
    } catch (err) {
      if (err instanceof RuleError) throw invalid(err.message);
      throw err;
    }

    // Authors and the person who triggered the pipeline, resolved to people where the directory
    // knows them; their raw identities stay excluded too, whoever claims them later.
    // Look-alike spellings (UTS #39 skeletons) stand for the real person: see policy/confusables.ts.
    const identities = withSkeletons([...new Set([...body.change.authors, ...(body.change.requestedBy ? [body.change.requestedBy] : [])].flatMap(authorKeys))]);
    if (identities.length === 0) throw invalid('change.authors must name at least one author by email or login');
    const claimants = await this.principals.findByIdentityKeys(identities);

    const requestedAt = new Date();
    const request: DeploymentRequest = {
      id,
      service: body.service,
      environment: body.environment,
      artifact: body.artifact,
      change: body.change,
      requestId: body.requestId,
      requester: asPerson(actor),
      excluded: { principalIds: claimants.map((principal) => principal.id), identities },
      rule,
      requestedAt: requestedAt.toISOString(),
      expiresAt: new Date(requestedAt.getTime() + rule.expiresAfterMs).toISOString(),
    };
    const view = pendingView(request, workflowIdFor(id));

    const inserted = (await this.db.query(
      `INSERT INTO deployments (id, workflow_id, service, environment, status, tier, requested_by, artifact_digest, requested_at, version, view, request)
       VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, 0, $9, $10)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [id, view.workflowId, request.service, request.environment, rule.tier, actor.id, request.artifact.digest,
        request.requestedAt, JSON.stringify(view), JSON.stringify(request)],
    )) as unknown[];
    if (inserted.length === 0) {
      // A concurrent request with the same requestId won the race.
      const winner = (await this.row(id))!;
      assertSameRequest(winner.request, body);
      return { created: false, deployment: (await this.current(winner)).view };
    }
    await this.ensureStarted(request);
    return { created: true, deployment: view };
  }

  /** Starts the request's workflow unless it already runs or ran (idempotent). */
  private async ensureStarted(request: DeploymentRequest): Promise<void> {
    try {
      await this.temporal.workflow.start('deploymentWorkflow', {
        taskQueue: this.options.taskQueue,
        workflowId: workflowIdFor(request.id),
        args: [request],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SearchKeys.service, value: request.service },
          { key: SearchKeys.environment, value: request.environment },
          { key: SearchKeys.digest, value: request.artifact.digest },
          { key: SearchKeys.tier, value: request.rule.tier },
          { key: SearchKeys.status, value: 'PENDING' },
          { key: SearchKeys.requester, value: request.requester.id },
          { key: SearchKeys.approvers, value: [] },
        ],
        staticSummary: `Deploy ${request.service} to ${request.environment}: ${request.artifact.name} (tier ${request.rule.tier}, ${request.rule.approvals} approval${request.rule.approvals === 1 ? '' : 's'})`,
        staticDetails: [
          `**${request.service}** → **${request.environment}**`,
          `Artifact: \`${request.artifact.name}\` @ \`${request.artifact.digest}\``,
          `Commit: \`${request.change.commit}\` by ${request.change.authors.join(', ')}`,
          request.change.summary ? `Summary: ${request.change.summary}` : '',
          request.change.url ? `Change: ${request.change.url}` : '',
          `Requested by ${request.requester.id}; tier ${request.rule.tier} needs ${request.rule.approvals} approval(s)` +
            (request.rule.requiredGroups.length ? ` including ${request.rule.requiredGroups.join(', ')}` : '') +
            (request.rule.eligibleGroups.length ? ` from ${request.rule.eligibleGroups.join(', ')}` : '') +
            `; expires ${request.expiresAt}`,
        ].filter(Boolean).join('\n\n'),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return; // it ran and finished
      this.logger.error(`could not start workflow for ${request.id}: ${(err as Error).message}`);
      throw new Problem(503, 'temporal-unavailable',
        `the deployment ${request.id} was recorded but its workflow could not be started (${(err as Error).message}); ` +
          'retry the same request with the same requestId');
    }
  }

  private async row(id: string): Promise<DeploymentRow | undefined> {
    const [row] = (await this.db.query(
      `SELECT id, status, requested_by, view, request FROM deployments WHERE id = $1`,
      [id],
    )) as DeploymentRow[];
    return row;
  }

  /**
   * The running workflow's own state when it can answer; the index's copy otherwise. The
   * index is written behind the gate, so its copy can lag: callers say so to their readers.
   */
  private async current(row: DeploymentRow): Promise<SourcedView> {
    if (isTerminal(row.status)) return { view: row.view, source: 'final' };
    try {
      // A worker that is down must not hang reads.
      const view = await this.temporal.withDeadline(Date.now() + 5_000, () => this.handle(row.id).query(deploymentQuery));
      return { view, source: 'workflow' };
    } catch (err) {
      this.logger.warn(`deployment ${row.id}: workflow did not answer its query (${(err as Error).message}); answering from the index`);
      return { view: row.view, source: 'index' };
    }
  }

  private visibleTo(actor: Actor, row: DeploymentRow): boolean {
    // A pipeline sees its own requests only; people who approve or administer see all.
    return actor.roles.includes('admin') || actor.roles.includes('approver') || row.requested_by === actor.id;
  }

  /** 404 unless the deployment exists and this principal may see it. */
  private async visibleRow(actor: Actor, id: string): Promise<DeploymentRow> {
    const row = await this.row(id);
    if (!row || !this.visibleTo(actor, row)) throw notFound(`no deployment ${id}; GET /v1/deployments lists them`);
    return row;
  }

  async get(actor: Actor, id: string): Promise<SourcedView> {
    return this.current(await this.visibleRow(actor, id));
  }

  /** For readers that need only to know the principal may see it (kept evidence). */
  async assertVisible(actor: Actor, id: string): Promise<void> {
    await this.visibleRow(actor, id);
  }

  /** For the evidence and other readers that need the request as the workflow received it. */
  async getWithRequest(actor: Actor, id: string): Promise<SourcedView & { request: DeploymentRequest }> {
    const row = await this.visibleRow(actor, id);
    return { ...(await this.current(row)), request: row.request };
  }

  async list(
    actor: Actor,
    filter: { service?: string; environment?: string; status?: DeploymentStatus; overridden?: boolean; reviewOverdue?: boolean; limit: number; before?: string },
  ): Promise<{ deployments: DeploymentView[]; next: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    const policy = this.policy.current();
    if (filter.service) add('service = ?', configuredSpelling(filter.service, policy.services.names) ?? filter.service);
    if (filter.environment) add('environment = ?', configuredSpelling(filter.environment, policy.environments.names) ?? filter.environment);
    if (filter.status) add('status = ?', filter.status);
    if (filter.overridden !== undefined) where.push(`(view ? 'override') = ${filter.overridden ? 'true' : 'false'}`);
    if (filter.reviewOverdue) where.push(`(view->'override'->>'reviewOverdue') = 'true' AND NOT (view->'override' ? 'review')`);
    if (!actor.roles.includes('admin') && !actor.roles.includes('approver')) add('requested_by = ?', actor.id);
    if (filter.before) {
      const [at, id] = decodeCursor(filter.before);
      params.push(at, id);
      where.push(`(requested_at, id) < ($${params.length - 1}, $${params.length})`);
    }
    const limit = Math.min(filter.limit, LIST_LIMIT);
    params.push(limit + 1);
    const rows = (await this.db.query(
      `SELECT id, view, requested_at FROM deployments ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY requested_at DESC, id DESC LIMIT $${params.length}`,
      params,
    )) as Array<{ id: string; view: DeploymentView; requested_at: Date }>;
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      deployments: page.map((row) => row.view),
      next: rows.length > limit && last ? encodeCursor(last.requested_at, last.id) : null,
    };
  }

  async approve(actor: Actor, id: string, digest: string, comment?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'approval', (handle) =>
      handle.executeUpdate(approveUpdate, { args: [{ approver: asPerson(actor), digest, comment }] }), { digest });
  }

  async reject(actor: Actor, id: string, comment?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'rejection', (handle) =>
      handle.executeUpdate(rejectUpdate, { args: [{ approver: asPerson(actor), comment }] }));
  }

  async cancel(actor: Actor, id: string, reason?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'cancel', (handle) =>
      handle.executeUpdate(cancelUpdate, { args: [{ actor: { id: actor.id, roles: actor.roles }, reason }] }));
  }

  async override(actor: Actor, id: string, reason: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'override', (handle) =>
      handle.executeUpdate(overrideUpdate, { args: [{ actor: { ...asPerson(actor), roles: actor.roles }, reason }] }));
  }

  async review(actor: Actor, id: string, comment?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'review', (handle) =>
      handle.executeUpdate(reviewUpdate, { args: [{ approver: asPerson(actor), comment }] }));
  }

  /**
   * Sends an answer to the gate. The workflow decides and records it; a refusal comes back as
   * a problem document with the gate's own reason. A principal that may not see the deployment
   * gets 404 before anything reaches the gate, so no answer (a refusal included) shows it.
   */
  private async answer(
    actor: Actor,
    id: string,
    kind: 'approval' | 'rejection' | 'cancel' | 'override' | 'review',
    send: (handle: WorkflowHandle<typeof deploymentWorkflow>) => Promise<GateAnswer>,
    data: Record<string, unknown> = {},
  ): Promise<DeploymentView> {
    await this.visibleRow(actor, id);
    let answer: GateAnswer;
    try {
      answer = await this.temporal.withDeadline(Date.now() + this.options.answerTimeoutMs, () => send(this.handle(id)));
    } catch (err) {
      const turnedAway = tooManyRefusals(err);
      if (turnedAway) {
        // The gate no longer hears this principal's refused attempts; the trail still keeps each.
        const detail = tooManyRefusalsDetail(actor.id, turnedAway.refused, id);
        await this.audit.record({ type: `${kind}.refused`, actor: actor.id, deploymentId: id, outcome: 'refused', reason: 'TOO_MANY_REFUSALS', data: { detail, gateReason: turnedAway.reason, ...data } });
        throw new Problem(429, 'too-many-refusals', detail, { reason: 'TOO_MANY_REFUSALS', refused: turnedAway.refused });
      }
      if (!(err instanceof WorkflowNotFoundError)) {
        this.logger.warn(`deployment ${id}: the gate did not answer the ${kind} (${(err as Error).message})`);
        throw new Problem(503, 'gate-unavailable',
          `the gate of deployment ${id} did not answer within ${this.options.answerTimeoutMs / 1000} s (${(err as Error).message}); ` +
            `the worker may be down. The ${kind} may still be counted when it is back: check GET /v1/deployments/${id} before sending it again`);
      }
      // The workflow has finished (or never existed): only the index can say which.
      const row = await this.row(id);
      if (!row) throw notFound(`no deployment ${id}; GET /v1/deployments lists them`);
      if (kind === 'review') {
        // The workflow ends once its override is reviewed (or was never overridden): the
        // index, complete by then, still says why another review is refused.
        const verdict = checkReview(row.request, row.view.override, asPerson(actor));
        if (!verdict.ok) {
          await this.audit.record({ type: 'review.refused', actor: actor.id, deploymentId: id, outcome: 'refused', reason: verdict.reason, data: { detail: verdict.detail } });
          throw new Problem(REFUSAL_STATUS[verdict.reason], verdict.reason.toLowerCase().replace(/_/g, '-'), verdict.detail, {
            reason: verdict.reason,
            deployment: row.view,
          });
        }
      }
      const detail = `deployment ${id} is ${row.status}, no longer PENDING`;
      await this.audit.record({ type: `${kind}.refused`, actor: actor.id, deploymentId: id, outcome: 'refused', reason: 'NOT_PENDING', data: { detail, ...data } });
      throw conflict('not-pending', detail, { reason: 'NOT_PENDING', deployment: row.view });
    }
    if (answer.outcome === 'refused') {
      throw new Problem(REFUSAL_STATUS[answer.reason], answer.reason.toLowerCase().replace(/_/g, '-'), answer.detail, {
        reason: answer.reason,
        deployment: answer.deployment,
      });
    }
    return answer.deployment;
  }

  /** Records an answer the API refused before it reached the gate (a malformed body). */
  async recordMalformed(actor: Actor, id: string, kind: string, detail: string): Promise<void> {
    await this.audit.record({ type: `${kind}.refused`, actor: actor.id, deploymentId: id, outcome: 'refused', reason: 'MALFORMED', data: { detail } });
  }
}

/** The gate's update validator turned the answer away: the principal's refusals are used up. */
function tooManyRefusals(err: unknown): { refused: number; reason?: string } | undefined {
  if (!(err instanceof WorkflowUpdateFailedError) || !(err.cause instanceof ApplicationFailure) || err.cause.type !== TOO_MANY_REFUSALS) {
    return undefined;
  }
  const [details] = (err.cause.details ?? []) as Array<{ refused?: unknown; reason?: unknown } | undefined>;
  return {
    refused: typeof details?.refused === 'number' ? details.refused : 0,
    reason: typeof details?.reason === 'string' ? details.reason : undefined,
  };
}

function assertSameRequest(request: DeploymentRequest, body: CreateDeploymentBody): void {
  const same =
    request.service === body.service &&
    request.environment === body.environment &&
    request.artifact.digest === body.artifact.digest &&
    request.artifact.name === body.artifact.name &&
    request.change.commit === body.change.commit;
  if (!same) {
    throw conflict('request-id-reused',
      `requestId ${JSON.stringify(body.requestId)} already names deployment ${request.id} of ${request.service} to ` +
        `${request.environment} (${request.artifact.digest}); use a new requestId for a different deployment`);
  }
}

function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([new Date(at).toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && instantParameter('before', value[0]) && !badCharacter(value[1])) {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw invalid('before must be the `next` cursor of an earlier page, unchanged');
}
