import { applyDecorators, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { type AnswerKind, REFUSAL_REASONS } from '../../policy/types';
import { type Actor, CurrentActor, Roles } from '../auth/actor';
import { ApprovalDto, CancelDto, CreateDeploymentDto, GetDeploymentQuery, ListDeploymentsQuery, OverrideDto, RejectionDto, ReviewDto } from '../dto/requests';
import { Answer, AUTHENTICATED_PROBLEMS, Problems } from '../dto/responses';
import { badRequest, REFUSAL_STATUS } from '../problem';
import { ValidBody, ValidQuery } from '../validation';
import { DeploymentsService } from './deployments.service';
import { DeploymentStreams, RECONNECT_AFTER_MS } from './deployment-stream';
import { AnswerToGate } from './refused-input';

export const VIEW_SOURCE_HEADER = 'Countersign-View-Source';

const refusals = (status: number) => REFUSAL_REASONS.filter((reason) => REFUSAL_STATUS[reason] === status).join(', ');

/** What every answer to the gate can be refused with, before the gate and by it. */
const ANSWER_PROBLEMS = {
  ...AUTHENTICATED_PROBLEMS,
  400: 'The body is not JSON, or holds text that cannot be stored (NUL, lone surrogates, control characters) or nests too deep; `detail` names the field',
  403: `The principal lacks the route's role, or the gate refused this principal this answer (\`reason\`: ${refusals(403)})`,
  404: 'No such deployment, or one this principal may not see',
  415: 'The body is not application/json',
  422: 'The body does not match the schema; `detail` lists every error',
  429: 'Too many failed authentications from this client, or (`reason` TOO_MANY_REFUSALS) this principal was refused too many times on this deployment and its further refusable attempts are turned away',
};

const REFUSED_IN_THIS_STATE = {
  409: `The gate refused this answer in the deployment's state (\`reason\`: ${refusals(409)})`,
};

/** An answer to a deployment's gate: 200 with the deployment, or a problem; refused input is kept. */
function GateAnswer(kind: AnswerKind, summary: string, answered: string) {
  return applyDecorators(
    HttpCode(200),
    AnswerToGate(kind),
    ApiOperation({ summary }),
    Answer(200, answered, 'Deployment'),
    Problems(ANSWER_PROBLEMS),
    Problems(REFUSED_IN_THIS_STATE, 'RefusedAnswer'),
  );
}

@Controller('v1/deployments')
export class DeploymentsController {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly streams: DeploymentStreams,
  ) {}

  @Post()
  @Roles('pipeline')
  @ApiOperation({
    summary: 'Request a deployment (pipeline)',
    description: 'The tier comes from the policy for the service and environment, never from the request; `minimumTier` can only make it stricter. The same `requestId` again answers the same deployment with 200.',
  })
  @Answer(201, 'created, PENDING', 'Deployment')
  @Answer(200, 'the deployment this requestId already names', 'Deployment')
  @Problems({
    ...AUTHENTICATED_PROBLEMS,
    400: 'not JSON, or text that cannot be stored',
    403: 'missing role, or outside the pipeline\'s scopes',
    409: 'requestId reused for a different deployment',
    422: 'invalid body, an environment (or listed service) the policy does not know (unknown-environment, naming the known ones), or no policy rule matches',
    503: 'Temporal unavailable; retry with the same requestId',
  })
  async create(@CurrentActor() actor: Actor, @ValidBody() body: CreateDeploymentDto, @Res({ passthrough: true }) res: Response) {
    const { created, deployment } = await this.deployments.create(actor, body);
    res.status(created ? 201 : 200).location(`/v1/deployments/${deployment.id}`);
    return deployment;
  }

  @Get()
  @ApiOperation({
    summary: 'List deployments, newest first',
    description: '`waitingFor=me` lists only the PENDING deployments the caller may approve now (an empty page for a principal without the approver role).',
  })
  @Answer(200, 'a page', 'DeploymentPage')
  @Problems({ ...AUTHENTICATED_PROBLEMS, 400: 'a filter is not one of its documented values, or waitingFor is combined with status, overridden or reviewOverdue', 422: 'before is not the `next` cursor of an earlier page' })
  async list(@CurrentActor() actor: Actor, @ValidQuery() query: ListDeploymentsQuery) {
    const { service, environment, status, overridden, reviewOverdue, limit, before, waitingFor } = query;
    if (waitingFor === 'me') {
      if (status !== undefined || overridden !== undefined || reviewOverdue !== undefined) {
        throw badRequest('waitingFor=me lists PENDING deployments only; drop status, overridden and reviewOverdue, or drop waitingFor');
      }
      return this.deployments.waitingFor(actor, { service, environment, limit: limit!, before });
    }
    return this.deployments.list(actor, { service, environment, status, overridden, reviewOverdue, limit: limit!, before });
  }

  @Get(':id')
  @ApiOperation({ summary: 'One deployment' })
  @Answer(200, 'the deployment', 'Deployment', {
    [VIEW_SOURCE_HEADER]: {
      description: '`workflow`: the live gate answered. `final`: the deployment is closed and this is its final record. ' +
        '`index`: the gate did not answer within 5 s (a worker is down or restarting), so this is the listing index\'s copy, ' +
        'which may lag the gate by the latest answers; ask again to see them.',
      schema: { type: 'string', enum: ['workflow', 'final', 'index'] },
    },
  })
  @Problems({
    ...AUTHENTICATED_PROBLEMS,
    400: 'waitForVersion or waitSeconds is not a whole number in its range',
    404: 'No such deployment, or one this principal may not see',
    429: 'Too many failed authentications from this client, or (`too-many-streams`) this principal already holds as many waits and event streams open as it may',
  })
  async get(
    @CurrentActor() actor: Actor,
    @Param('id') id: string,
    @ValidQuery() query: GetDeploymentQuery,
    @Res({ passthrough: true }) res: Response,
  ) {
    const { view, source } = query.waitForVersion === undefined
      ? await this.deployments.get(actor, id)
      : await this.streams.waitForVersion(actor, id, query.waitForVersion, (query.waitSeconds ?? 30) * 1000, res);
    // `index` means the gate did not answer and this copy may lag it: a client that acts on
    // the state (a dashboard, a retry loop) can tell and ask again.
    res.setHeader(VIEW_SOURCE_HEADER, source);
    return view;
  }

  @Get(':id/events')
  @ApiOperation({
    summary: 'Follow one deployment as server-sent events (text/event-stream)',
    description:
      'Answers at once with the deployment\'s current state, then one event per change, pushed as the gate records it (no polling): ' +
      '`event: deployment`, `id:` the deployment\'s `version`, `data:` the deployment as GET /v1/deployments/{id} answers it, on one line. ' +
      'A comment line (`: keep-alive …`) is sent every 15 s while nothing changes. The stream ends after the event of a terminal status ' +
      '(DEPLOYED, REJECTED, EXPIRED, CANCELLED, FAILED), or after 15 minutes (the client reconnects and authenticates again). A client that reconnects with `Last-Event-ID: <version>` (EventSource does) ' +
      `gets the current state at once only when it is newer than that version; \`retry: ${RECONNECT_AFTER_MS}\` asks clients to reconnect after ` +
      `${RECONNECT_AFTER_MS / 1000} s. Each principal may hold a bounded number of streams open at once (32 by default); beyond it, 429.`,
  })
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'the `id:` (version) of the last event received; only a newer state is sent' })
  @ApiResponse({
    status: 200,
    description: 'an event stream: `retry:`, then `id: <version>` / `event: deployment` / `data: <Deployment JSON>` per change, and keep-alive comments',
    content: { 'text/event-stream': { schema: { type: 'string', example: 'id: 3\nevent: deployment\ndata: {"id":"…","status":"PENDING","version":3,…}\n\n' } } },
  })
  @Problems({
    ...AUTHENTICATED_PROBLEMS,
    404: 'No such deployment, or one this principal may not see',
    429: 'Too many failed authentications from this client, or (`too-many-streams`) this principal already holds as many event streams open as it may',
  })
  async events(@CurrentActor() actor: Actor, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    await this.streams.open(actor, id, req, res);
  }

  @Post(':id/approvals')
  @Roles('approver')
  @GateAnswer('approval', 'Approve (approver): counts once per person, for the artifact\'s digest only', 'the deployment after the approval is counted')
  async approve(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() body: ApprovalDto) {
    return this.deployments.approve(actor, id, body.digest, body.comment);
  }

  @Post(':id/rejections')
  @Roles('approver')
  @GateAnswer('rejection', 'Reject (approver): one eligible rejection ends the request', 'REJECTED')
  async reject(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() body: RejectionDto) {
    return this.deployments.reject(actor, id, body.comment);
  }

  @Post(':id/cancel')
  @Roles('pipeline', 'admin')
  @GateAnswer('cancel', 'Cancel (the requesting pipeline, or admin)', 'CANCELLED')
  async cancel(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() body: CancelDto) {
    return this.deployments.cancel(actor, id, body.reason);
  }

  /** Break-glass (admin): deploy on fewer approvals than the tier asks, with a reason; a review is then due. */
  @Post(':id/override')
  @Roles('admin')
  @GateAnswer('override', 'Break-glass (admin, never an author): deploy on fewer approvals; marked overridden everywhere, and a retrospective review is then due within the tier\'s window', 'APPROVED, overridden')
  async override(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() body: OverrideDto) {
    return this.deployments.override(actor, id, body.reason, body.passFreeze);
  }

  /** The retrospective review of an override, by an eligible approver. */
  @Post(':id/review')
  @Roles('approver')
  @GateAnswer('review', 'Retrospective review of an override (approver: eligible, not an author, not the overrider)', 'reviewed')
  async review(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() body: ReviewDto) {
    return this.deployments.review(actor, id, body.comment);
  }
}
