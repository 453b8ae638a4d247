// The API's one way to reach a deployment's gate (its Temporal workflow): start it, ask it,
// send it an answer. Every call is bounded by a deadline, and every failure is mapped here to
// what the API answers (503 when Temporal or the worker is out of reach, 429 when the gate
// turns a principal away), so the service never handles a Temporal error itself.

import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ApplicationFailure,
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { TOO_MANY_REFUSALS } from '../../policy/refusals';
import { type AnswerKind, workflowIdFor, type DeploymentRequest, type DeploymentView, type GateAnswer } from '../../policy/types';
import {
  approveUpdate,
  cancelUpdate,
  deploymentQuery,
  overrideUpdate,
  rejectUpdate,
  reviewUpdate,
  startingSearchAttributes,
} from '../../workflows/definitions';
// Type only: the API never loads workflow code, it names the workflow and checks its arguments.
import type { deploymentWorkflow } from '../../workflows/deployment';
import { Problem } from '../problem';
import { API_OPTIONS, type ApiOptions, TEMPORAL_CLIENT } from '../tokens';

/** The workflow type the worker registers (an export of workflows/index.ts, checked by the compiler). */
export const DEPLOYMENT_WORKFLOW = 'deploymentWorkflow' satisfies keyof typeof import('../../workflows');

/** A read of the workflow's state waits this long at most: a worker that is down must not hang reads. */
const QUERY_DEADLINE_MS = 5_000;

/** The updates a principal can send the gate, by the name the API gives each answer. */
const UPDATES = {
  approval: approveUpdate,
  rejection: rejectUpdate,
  cancel: cancelUpdate,
  override: overrideUpdate,
  review: reviewUpdate,
} as const satisfies Record<AnswerKind, unknown>;

/** What each answer carries, as the workflow's update declares it. */
export type AnswerInput<K extends AnswerKind> = (typeof UPDATES)[K] extends UpdateDefinition<GateAnswer, [infer Input], string> ? Input : never;

/** What became of an answer sent to the gate. */
export type GateReply =
  /** The gate decided: accepted, or refused with its own reason. */
  | { kind: 'answered'; answer: GateAnswer }
  /** The gate's validator turned the principal away: their refusals are used up. */
  | { kind: 'too-many-refusals'; refused: number; reason?: string }
  /** No open workflow: it has finished (or never existed); only the index can say which. */
  | { kind: 'closed' };

@Injectable()
export class GateClient {
  private readonly logger = new Logger('Gate');

  constructor(
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
  ) {}

  private handle(id: string): WorkflowHandle<typeof deploymentWorkflow> {
    return this.temporal.workflow.getHandle<typeof deploymentWorkflow>(workflowIdFor(id));
  }

  /** Starts the request's workflow unless it already runs or ran (idempotent); 503 when Temporal cannot. */
  async start(request: DeploymentRequest): Promise<void> {
    try {
      await this.temporal.workflow.start<typeof deploymentWorkflow>(DEPLOYMENT_WORKFLOW, {
        taskQueue: this.options.taskQueue,
        workflowId: workflowIdFor(request.id),
        args: [request],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: startingSearchAttributes(request),
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

  /** The running workflow's own state; throws when it does not answer within QUERY_DEADLINE_MS. */
  async view(id: string): Promise<DeploymentView> {
    return this.temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => this.handle(id).query(deploymentQuery));
  }

  /**
   * Sends an answer and waits for the gate's decision, within the answer timeout. 503 when it
   * does not come (the answer may still be counted later, and the detail says so).
   */
  async answer<K extends AnswerKind>(id: string, kind: K, input: AnswerInput<K>): Promise<GateReply> {
    const update = UPDATES[kind] as UpdateDefinition<GateAnswer, [AnswerInput<K>], string>;
    try {
      const answer = await this.temporal.withDeadline(Date.now() + this.options.answerTimeoutMs, () =>
        this.handle(id).executeUpdate(update, { args: [input] }));
      return { kind: 'answered', answer };
    } catch (err) {
      const turnedAway = tooManyRefusals(err);
      if (turnedAway) return { kind: 'too-many-refusals', ...turnedAway };
      if (err instanceof WorkflowNotFoundError) return { kind: 'closed' };
      this.logger.warn(`deployment ${id}: the gate did not answer the ${kind} (${(err as Error).message})`);
      throw new Problem(503, 'gate-unavailable',
        `the gate of deployment ${id} did not answer within ${this.options.answerTimeoutMs / 1000} s (${(err as Error).message}); ` +
          `the worker may be down. The ${kind} may still be counted when it is back: check GET /v1/deployments/${id} before sending it again`);
    }
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
