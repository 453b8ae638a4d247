// The evidence of a deployment, signed, and the public keys that check it offline.

import { Controller, Get, Inject, Logger, Param, Res } from '@nestjs/common';
import { ApiOperation, ApiParam } from '@nestjs/swagger';
import { Client } from '@temporalio/client';
import type { Response } from 'express';
import type { DataSource } from 'typeorm';
import { findEvidence } from '../../database/evidence-records';
import { evidenceDocument } from '../../evidence';
import type { EvidenceKey } from '../../evidence/keys';
import { type Actor, CurrentActor, Public } from '../auth/actor';
import { DeploymentsService } from '../deployments/deployments.service';
import { Answer, AUTHENTICATED_PROBLEMS, Problems } from '../dto/responses';
import { badRequest, notFound, Problem } from '../problem';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, EVIDENCE_KEY, TEMPORAL_CLIENT } from '../tokens';

const notConfigured = () =>
  new Problem(503, 'evidence-not-configured',
    'this server has no evidence key, so it cannot sign evidence; start it with COUNTERSIGN_EVIDENCE_KEY or a writable data folder');

@Controller('v1/deployments')
export class EvidenceController {
  private readonly logger = new Logger('Evidence');

  constructor(
    private readonly deployments: DeploymentsService,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
    @Inject(EVIDENCE_KEY) private readonly key: EvidenceKey | null,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  /** Any principal that may see the deployment may have its evidence. */
  @Get(':id/evidence')
  @ApiOperation({
    summary: 'The signed evidence of one deployment (anyone who may see the deployment)',
    description:
      'A DSSE v1 envelope (`payloadType` `application/vnd.in-toto+json`) whose payload is the base64 of an in-toto Statement v1: ' +
      'subject the artifact and its sha256, `predicateType` `https://countersign.dev/deployment-approval/v1`, predicate the request, ' +
      'the change, the rule applied, every approval and refused attempt, the decision, any override, the deploy result, and the Temporal ' +
      'workflow and run ids. Signed with Ed25519 (see `GET /v1/keys`); `countersign verify FILE --key KEY` checks it offline. ' +
      'This is the current state. The evidence of a deployed request does not change when it is tagged in git, and its `X-Evidence-SHA256` is what the tag records; ' +
      'if it changes later (a retrospective review), `GET /v1/deployments/{id}/evidence/{sha256}` still serves what the tag named.',
  })
  @Answer(200, 'the DSSE envelope', 'EvidenceEnvelope', { 'X-Evidence-SHA256': { description: 'hex sha256 of the exact response body', schema: { type: 'string' } } })
  @Problems({
    ...AUTHENTICATED_PROBLEMS,
    404: 'No such deployment, or one this principal may not see',
    503: 'the server has no evidence key, or the gate of an open deployment did not answer (evidence is signed only from its live state; see Retry-After), or PostgreSQL or Temporal cannot be reached',
  })
  async evidence(@CurrentActor() actor: Actor, @Param('id') id: string, @Res() res: Response): Promise<void> {
    const { view, source, request } = await this.deployments.getWithRequest(actor, id);
    if (!this.key) throw notConfigured();
    if (source === 'index') {
      // A signature vouches for what it signs: never sign a copy that may lag the gate.
      throw new Problem(503, 'gate-unavailable',
        `the gate of deployment ${id} did not answer, and evidence of an open deployment is signed only from the gate's own state; ` +
          'retry in a few seconds (if it persists, check that the worker is running)',
        {}, { 'Retry-After': '5' });
    }
    const runId = await this.runId(view.workflowId);
    const { json, sha256 } = evidenceDocument(
      { deployment: view, request, runId, namespace: this.options.namespace, temporalUiUrl: this.options.temporalUiUrl },
      this.key,
    );
    res.status(200).type('application/json').setHeader('X-Evidence-SHA256', sha256);
    res.send(json);
  }

  /**
   * The evidence a git tag named, byte for byte, by the sha256 in its `Evidence-SHA256` line:
   * the deployment's current evidence may have moved on since (a retrospective review).
   */
  @Get(':id/evidence/:sha256')
  @ApiOperation({
    summary: 'The evidence a git tag names, byte for byte (anyone who may see the deployment)',
    description:
      'When a deployment is tagged in git, the evidence the tag\'s `Evidence-SHA256` line names is kept, append-only. ' +
      'The current evidence can move on afterwards (a retrospective review of an override, a refused attempt while the workflow is still open); ' +
      'this route still serves the tagged bytes, whose sha256 is the one in the tag.',
  })
  @ApiParam({ name: 'sha256', description: 'the 64 hex characters of a git tag\'s `Evidence-SHA256` line', schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } })
  @Answer(200, 'the DSSE envelope, as tagged', 'EvidenceEnvelope', { 'X-Evidence-SHA256': { description: 'hex sha256 of the exact response body (the path\'s sha256)', schema: { type: 'string' } } })
  @Problems({
    ...AUTHENTICATED_PROBLEMS,
    400: 'not a sha256',
    404: 'no such deployment, one this principal may not see, or no evidence of it kept under that sha256',
  })
  async kept(@CurrentActor() actor: Actor, @Param('id') id: string, @Param('sha256') sha256: string, @Res() res: Response): Promise<void> {
    const hash = sha256.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw badRequest(`${JSON.stringify(sha256)} is not a sha256: give the 64 hex characters of a tag's Evidence-SHA256 line`);
    }
    await this.deployments.assertVisible(actor, id);
    const record = await findEvidence(this.db, id, hash);
    if (!record) {
      throw notFound(`deployment ${id} has no kept evidence with sha256 ${hash}; GET /v1/deployments/${id}/evidence serves its current evidence`);
    }
    res.status(200).type('application/json').setHeader('X-Evidence-SHA256', record.sha256);
    res.send(record.document);
  }

  /** The run the evidence names; without it the evidence still stands, only less linked. */
  private async runId(workflowId: string): Promise<string | undefined> {
    try {
      const description = await this.temporal.withDeadline(Date.now() + 5_000, () => this.temporal.workflow.getHandle(workflowId).describe());
      return description.runId;
    } catch (err) {
      this.logger.warn(`${workflowId}: could not describe the workflow for its run id (${(err as Error).message}); evidence without it`);
      return undefined;
    }
  }
}

@Controller('v1/keys')
@Public()
export class KeysController {
  constructor(@Inject(EVIDENCE_KEY) private readonly key: EvidenceKey | null) {}

  @Get()
  @ApiOperation({ summary: 'The public keys that sign evidence (no token needed)' })
  @Answer(200, 'keys', 'Keys')
  keys() {
    return { keys: this.key ? [{ keyid: this.key.keyid, algorithm: this.key.algorithm, publicKeyPem: this.key.publicKeyPem }] : [] };
  }
}
