// The evidence of a deployment, signed, and the public keys that check it offline.

import { Controller, Get, Inject, Logger, Param, Res } from '@nestjs/common';
import { Client } from '@temporalio/client';
import type { Response } from 'express';
import type { DataSource } from 'typeorm';
import { findEvidence } from '../../database/evidence-records';
import { evidenceDocument } from '../../evidence';
import type { EvidenceKey } from '../../evidence/keys';
import { type Actor, CurrentActor, Public } from '../auth/actor';
import { DeploymentsService } from '../deployments/deployments.service';
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
  keys() {
    return { keys: this.key ? [{ keyid: this.key.keyid, algorithm: this.key.algorithm, publicKeyPem: this.key.publicKeyPem }] : [] };
  }
}
