import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { DeploymentStatus } from '../../policy/types';
import { type Actor, CurrentActor, Roles } from '../auth/actor';
import { badRequest, Problem } from '../problem';
import { validateBody } from '../schemas';
import { type CreateDeploymentBody, DeploymentsService } from './deployments.service';

function flag(name: string, value?: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw badRequest(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

export const VIEW_SOURCE_HEADER = 'Countersign-View-Source';

const STATUSES: DeploymentStatus[] = ['PENDING', 'APPROVED', 'DEPLOYING', 'DEPLOYED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'FAILED'];

@Controller('v1/deployments')
export class DeploymentsController {
  constructor(private readonly deployments: DeploymentsService) {}

  @Post()
  @Roles('pipeline')
  async create(@CurrentActor() actor: Actor, @Body() body: unknown, @Res({ passthrough: true }) res: Response) {
    const input = validateBody<CreateDeploymentBody>('CreateDeployment', body);
    const { created, deployment } = await this.deployments.create(actor, input);
    res.status(created ? 201 : 200).location(`/v1/deployments/${deployment.id}`);
    return deployment;
  }

  @Get()
  async list(
    @CurrentActor() actor: Actor,
    @Query('service') service?: string,
    @Query('environment') environment?: string,
    @Query('status') status?: string,
    @Query('limit') limit?: string,
    @Query('before') before?: string,
    @Query('overridden') overridden?: string,
    @Query('reviewOverdue') reviewOverdue?: string,
  ) {
    const wanted = status?.toUpperCase();
    if (wanted !== undefined && !STATUSES.includes(wanted as DeploymentStatus)) {
      throw badRequest(`status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
    }
    const size = limit === undefined ? 50 : Number(limit);
    if (!Number.isInteger(size) || size < 1 || size > 200) throw badRequest(`limit must be a whole number from 1 to 200, got ${JSON.stringify(limit)}`);
    return this.deployments.list(actor, {
      service,
      environment,
      status: wanted as DeploymentStatus | undefined,
      overridden: flag('overridden', overridden),
      reviewOverdue: flag('reviewOverdue', reviewOverdue),
      limit: size,
      before,
    });
  }

  @Get(':id')
  async get(@CurrentActor() actor: Actor, @Param('id') id: string, @Res({ passthrough: true }) res: Response) {
    const { view, source } = await this.deployments.get(actor, id);
    // `index` means the gate did not answer and this copy may lag it: a client that acts on
    // the state (a dashboard, a retry loop) can tell and ask again.
    res.setHeader(VIEW_SOURCE_HEADER, source);
    return view;
  }

  @Post(':id/approvals')
  @Roles('approver')
  @HttpCode(200)
  async approve(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const input = await this.validated<{ digest: string; comment?: string }>(actor, id, 'approval', 'Approval', body);
    return this.deployments.approve(actor, id, input.digest, input.comment);
  }

  @Post(':id/rejections')
  @Roles('approver')
  @HttpCode(200)
  async reject(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const input = await this.validated<{ comment?: string }>(actor, id, 'rejection', 'Rejection', body);
    return this.deployments.reject(actor, id, input.comment);
  }

  @Post(':id/cancel')
  @Roles('pipeline', 'admin')
  @HttpCode(200)
  async cancel(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const input = await this.validated<{ reason?: string }>(actor, id, 'cancel', 'Cancel', body);
    return this.deployments.cancel(actor, id, input.reason);
  }

  /** Break-glass (admin): deploy on fewer approvals than the tier asks, with a reason; a review is then due. */
  @Post(':id/override')
  @Roles('admin')
  @HttpCode(200)
  async override(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const input = await this.validated<{ reason: string }>(actor, id, 'override', 'Override', body);
    return this.deployments.override(actor, id, input.reason);
  }

  /** The retrospective review of an override, by an eligible approver. */
  @Post(':id/review')
  @Roles('approver')
  @HttpCode(200)
  async review(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const input = await this.validated<{ comment?: string }>(actor, id, 'review', 'Rejection', body);
    return this.deployments.review(actor, id, input.comment);
  }

  /** A refused attempt is kept in the audit trail, malformed ones included. */
  private async validated<T>(actor: Actor, id: string, kind: string, schema: 'Approval' | 'Rejection' | 'Cancel' | 'Override', body: unknown): Promise<T> {
    try {
      return validateBody<T>(schema, body);
    } catch (err) {
      if (err instanceof Problem) await this.deployments.recordMalformed(actor, id, kind, err.detail);
      throw err;
    }
  }
}
