import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { DeploymentIndex, type IndexReader } from '../../database/deployment-index';
import type { DeploymentEntity } from '../../database/entities/deployment.entity';
import { NameError, RuleError, resolveRequestNames, resolveRule } from '../../policy/config';
import { calendarClearUntil } from '../../policy/freezes';
import { checkReview } from '../../policy/gate';
import { configuredSpelling, scopeMatches } from '../../policy/names';
import { withSkeletons } from '../../policy/confusables';
import { authorKeys } from '../../policy/identity';
import { tooManyRefusalsDetail } from '../../policy/refusals';
import {
  isTerminal,
  type AnswerKind,
  workflowIdFor,
  type DeploymentRequest,
  type DeploymentStatus,
  type DeploymentView,
} from '../../policy/types';
import { pendingView } from '../../policy/view';
import { waitingFor } from '../../policy/waiting';
import type { PolicyHolder } from '../../settings/policy-file';
import { type Actor, asPerson } from '../auth/actor';
import { AuditService } from '../audit/audit.service';
import { PrincipalsService } from '../principals/principals.service';
import { badCharacter, instantParameter } from '../input-guard';
import { conflict, forbidden, invalid, notFound, Problem, refusalProblem } from '../problem';
import { POLICY } from '../tokens';
import type { CreateDeploymentDto } from '../dto/requests';
import { type AnswerInput, GateClient } from './gate-client';

const LIST_LIMIT = 200;
/** How many PENDING rows `waitingFor` reads at a time. */
const WAITING_BATCH = 200;

/**
 * Where a view came from: `workflow` is the live gate, `final` the index's copy of a closed
 * deployment (complete by then), `index` the index's copy of an open one that may lag.
 */
export type ViewSource = 'workflow' | 'final' | 'index';
export interface SourcedView {
  view: DeploymentView;
  source: ViewSource;
}

/**
 * Deployments as the API serves them: it composes the index (database/deployment-index.ts,
 * what each workflow last reported, and who may read it) and the gate (./gate-client.ts, the
 * workflow itself), and decides nothing the gate decides.
 */
@Injectable()
export class DeploymentsService {
  private readonly logger = new Logger('Deployments');

  constructor(
    @Inject(POLICY) private readonly policy: PolicyHolder,
    private readonly index: DeploymentIndex,
    private readonly gate: GateClient,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  /**
   * The same pipeline's same requestId names the same deployment (a UUID derived from both);
   * otherwise a fresh random UUID. Either way of the shape MADE_ID matches.
   */
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
  private resolveNames(body: CreateDeploymentDto): CreateDeploymentDto {
    try {
      return { ...body, ...resolveRequestNames(this.policy.current(), body) };
    } catch (err) {
      if (err instanceof NameError) throw new Problem(422, `unknown-${err.kind}`, err.message, { known: err.known });
      throw err;
    }
  }

  async create(actor: Actor, requested: CreateDeploymentDto): Promise<{ created: boolean; deployment: DeploymentView }> {
    const body = this.resolveNames(requested);
    this.assertInScope(actor, body.service, body.environment);
    const id = this.deploymentId(actor, body.requestId);

    // What the policy and the request decide, before any read. A refusal waits until we know
    // that the requestId names no earlier deployment: a retry answers that deployment, as ever.
    let rule: ReturnType<typeof resolveRule> | undefined;
    let refusal: Problem | undefined;
    try {
      rule = resolveRule(this.policy.current(), body.service, body.environment, body.minimumTier);
    } catch (err) {
      if (!(err instanceof RuleError)) throw err;
      refusal = invalid(err.message);
    }
    // Authors and the person who triggered the pipeline, resolved to people where the directory
    // knows them; their raw identities stay excluded too, whoever claims them later.
    // Look-alike spellings (UTS #39 skeletons) stand for the real person: see policy/confusables.ts.
    const identities = withSkeletons([...new Set([...body.change.authors, ...(body.change.requestedBy ? [body.change.requestedBy] : [])].flatMap(authorKeys))]);
    if (identities.length === 0) refusal ??= invalid('change.authors must name at least one author by email or login');

    // The two reads are independent, so they go together: the deployment a requestId already
    // names (a fresh random id names none, so nothing is read for it), and who claims the authors.
    const [existing, claimants] = await Promise.all([
      body.requestId === undefined ? null : this.index.find(id),
      refusal ? [] : this.principals.findByIdentityKeys(identities),
    ]);
    if (existing) {
      assertSameRequest(existing.request!, body);
      await this.gate.start(existing.request!);
      return { created: false, deployment: (await this.current(existing)).view };
    }
    if (refusal || !rule) throw refusal;

    const requestedAt = new Date();
    const request: DeploymentRequest & { requestRecorded: true } = {
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
      requestRecorded: true,
    };
    const view = pendingView(request, workflowIdFor(id));

    if (!(await this.index.insertRequested(request, view, actor.id))) {
      // A concurrent request with the same requestId won the race.
      const winner = (await this.index.find(id))!;
      assertSameRequest(winner.request!, body);
      return { created: false, deployment: (await this.current(winner)).view };
    }
    await this.gate.start(request);
    return { created: true, deployment: view };
  }

  /**
   * The running workflow's own state when it can answer; the index's copy otherwise. The
   * index is written behind the gate, so its copy can lag: callers say so to their readers.
   */
  private async current(row: DeploymentEntity): Promise<SourcedView> {
    if (isTerminal(row.status)) return { view: row.view, source: 'final' };
    try {
      return { view: await this.gate.view(row.id), source: 'workflow' };
    } catch (err) {
      this.logger.warn(`deployment ${row.id}: workflow did not answer its query (${(err as Error).message}); answering from the index`);
      return { view: row.view, source: 'index' };
    }
  }

  /** 404 unless the deployment exists and this principal may see it. */
  private async visibleRow(actor: Actor, id: string): Promise<DeploymentEntity> {
    const row = await this.index.findReadable(readerOf(actor), id);
    if (!row) throw notFound(`no deployment ${id}; GET /v1/deployments lists them`);
    return row;
  }

  async get(actor: Actor, id: string): Promise<SourcedView> {
    return this.current(await this.visibleRow(actor, id));
  }

  /**
   * For readers that need only to know the principal may see it (kept evidence, an answer to
   * the gate): 404 otherwise. One primary-key read of one column, not the row's documents.
   */
  async assertVisible(actor: Actor, id: string): Promise<void> {
    if (!(await this.index.isReadable(readerOf(actor), id))) throw notFound(`no deployment ${id}; GET /v1/deployments lists them`);
  }

  /** For the evidence and other readers that need the request as the workflow received it. */
  async getWithRequest(actor: Actor, id: string): Promise<SourcedView & { request: DeploymentRequest }> {
    const row = await this.visibleRow(actor, id);
    return { ...(await this.current(row)), request: row.request! };
  }

  async list(
    actor: Actor,
    filter: { service?: string; environment?: string; status?: DeploymentStatus; overridden?: boolean; reviewOverdue?: boolean; limit: number; before?: string },
  ): Promise<{ deployments: DeploymentView[]; next: string | null }> {
    const policy = this.policy.current();
    const { rows, more } = await this.index.list(readerOf(actor), {
      service: filter.service ? (configuredSpelling(filter.service, policy.services.names) ?? filter.service) : undefined,
      environment: filter.environment ? (configuredSpelling(filter.environment, policy.environments.names) ?? filter.environment) : undefined,
      status: filter.status,
      overridden: filter.overridden,
      reviewOverdue: filter.reviewOverdue,
      before: filter.before ? decodeCursor(filter.before) : undefined,
      limit: Math.min(filter.limit, LIST_LIMIT),
    });
    return { deployments: rows.map((row) => row.view), next: more ? encodeCursor(more.requestedAt, more.id) : null };
  }

  /**
   * The PENDING deployments this principal may approve now and whose quorum their approval
   * would move (policy/waiting.ts decides, row by row), newest first, paged like `list`. The
   * index's copy of each is what is judged: an approval the gate has counted but the index not
   * yet seen can leave a deployment in the list a moment longer, never hide one.
   */
  async waitingFor(
    actor: Actor,
    page: { service?: string; environment?: string; limit: number; before?: string },
  ): Promise<{ deployments: DeploymentView[]; next: string | null }> {
    const limit = Math.min(page.limit, LIST_LIMIT);
    if (!actor.roles.includes('approver')) return { deployments: [], next: null };
    const policy = this.policy.current();
    const service = page.service ? (configuredSpelling(page.service, policy.services.names) ?? page.service) : undefined;
    const environment = page.environment ? (configuredSpelling(page.environment, policy.environments.names) ?? page.environment) : undefined;
    const person = asPerson(actor);
    const now = Date.now();
    const found: Array<{ view: DeploymentView; requestedAt: Date; id: string }> = [];
    let before = page.before ? decodeCursor(page.before) : undefined;
    // Pending deployments are few; read them in batches until the page (and one more) is found.
    for (;;) {
      const batch = await this.index.pendingBatch({ service, environment, before, limit: WAITING_BATCH });
      for (const row of batch) {
        if (!row.request) continue;
        if (waitingFor(row.request, row.view, person, actor.roles, now).waiting) found.push({ view: row.view, requestedAt: row.requestedAt, id: row.id });
        if (found.length > limit) break;
      }
      if (found.length > limit || batch.length < WAITING_BATCH) break;
      const last = batch[batch.length - 1];
      before = { at: new Date(last.requestedAt).toISOString(), id: last.id };
    }
    const rows = found.slice(0, limit);
    const last = rows[rows.length - 1];
    return { deployments: rows.map((row) => row.view), next: found.length > limit && last ? encodeCursor(last.requestedAt, last.id) : null };
  }

  async approve(actor: Actor, id: string, digest: string, comment?: string): Promise<DeploymentView> {
    const clearUntil = this.calendarReading();
    return this.answer(actor, id, 'approval', { approver: asPerson(actor), digest, comment, ...(clearUntil ? { calendarClearUntil: clearUntil } : {}) }, { digest });
  }

  /**
   * The change calendar, read as an approval goes to the gate (ApprovalInput.calendarClearUntil):
   * when no freeze is near anywhere, the deploy its quorum starts needs no reading of its own.
   * Nothing is claimed when in doubt; the worker then reads the calendar itself.
   */
  private calendarReading(): string | undefined {
    try {
      return calendarClearUntil(this.policy.freshCalendar((line) => this.logger.warn(line)).freezes, Date.now());
    } catch {
      return undefined;
    }
  }

  async reject(actor: Actor, id: string, comment?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'rejection', { approver: asPerson(actor), comment });
  }

  async cancel(actor: Actor, id: string, reason?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'cancel', { actor: { id: actor.id, roles: actor.roles }, reason });
  }

  async override(actor: Actor, id: string, reason: string, passFreeze?: boolean): Promise<DeploymentView> {
    return this.answer(actor, id, 'override', { actor: { ...asPerson(actor), roles: actor.roles }, reason, ...(passFreeze ? { passFreeze: true } : {}) });
  }

  async review(actor: Actor, id: string, comment?: string): Promise<DeploymentView> {
    return this.answer(actor, id, 'review', { approver: asPerson(actor), comment });
  }

  /**
   * Sends an answer to the gate. The workflow decides and records it; a refusal comes back as
   * a problem document with the gate's own reason. A principal that may not see the deployment
   * gets 404 before anything reaches the gate, so no answer (a refusal included) shows it.
   */
  private async answer<K extends AnswerKind>(
    actor: Actor,
    id: string,
    kind: K,
    input: AnswerInput<K>,
    data: Record<string, unknown> = {},
  ): Promise<DeploymentView> {
    // Whoever reads every deployment needs no read before answering an id of the shape this API
    // makes: a deployment that does not exist has no workflow either, and the gate's `closed`
    // leads to the same 404 below. (Any other id is read first, and Temporal never sees it.)
    if (!readerOf(actor).readsAll || !MADE_ID.test(id)) await this.assertVisible(actor, id);
    const reply = await this.gate.answer(id, kind, input);
    if (reply.kind === 'too-many-refusals') {
      // The gate no longer hears this principal's refused attempts; the trail still keeps each.
      const detail = tooManyRefusalsDetail(actor.id, reply.refused, id);
      await this.audit.record({ type: `${kind}.refused`, actor: actor.id, deploymentId: id, outcome: 'refused', reason: 'TOO_MANY_REFUSALS', data: { detail, gateReason: reply.reason, ...data } });
      throw new Problem(429, 'too-many-refusals', detail, { reason: 'TOO_MANY_REFUSALS', refused: reply.refused });
    }
    if (reply.kind === 'closed') {
      // The workflow has finished (or never existed): only the index can say which.
      const row = await this.index.find(id);
      if (!row) throw notFound(`no deployment ${id}; GET /v1/deployments lists them`);
      if (kind === 'review') {
        // The workflow ends once its override is reviewed (or was never overridden): the
        // index, complete by then, still says why another review is refused.
        const verdict = checkReview(row.request!, row.view.override, asPerson(actor));
        if (!verdict.ok) {
          await this.audit.record({ type: 'review.refused', actor: actor.id, deploymentId: id, outcome: 'refused', reason: verdict.reason, data: { detail: verdict.detail } });
          throw refusalProblem(verdict.reason, verdict.detail, { deployment: row.view });
        }
      }
      const detail = `deployment ${id} is ${row.status}, no longer PENDING`;
      await this.audit.record({ type: `${kind}.refused`, actor: actor.id, deploymentId: id, outcome: 'refused', reason: 'NOT_PENDING', data: { detail, ...data } });
      throw conflict('not-pending', detail, { reason: 'NOT_PENDING', deployment: row.view });
    }
    const { answer } = reply;
    if (answer.outcome === 'refused') {
      throw refusalProblem(answer.reason, answer.detail, { deployment: answer.deployment });
    }
    return answer.deployment;
  }

  /** Records an answer the API refused before it reached the gate (a malformed body). */
  async recordMalformed(actor: Actor, id: string, kind: string, detail: string): Promise<void> {
    await this.audit.record({ type: `${kind}.refused`, actor: actor.id, deploymentId: id, outcome: 'refused', reason: 'MALFORMED', data: { detail } });
  }
}

/** The shape of every deployment id this API makes (see `deploymentId`). */
const MADE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A pipeline reads its own requests only; people who approve or administer read all. */
function readerOf(actor: Actor): IndexReader {
  return { id: actor.id, readsAll: actor.roles.includes('admin') || actor.roles.includes('approver') };
}

function assertSameRequest(request: DeploymentRequest, body: CreateDeploymentDto): void {
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

function decodeCursor(cursor: string): { at: string; id: string } {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && instantParameter('before', value[0]) && !badCharacter(value[1])) {
      return { at: value[0], id: value[1] };
    }
  } catch {
    // fall through
  }
  throw invalid('before must be the `next` cursor of an earlier page, unchanged');
}
