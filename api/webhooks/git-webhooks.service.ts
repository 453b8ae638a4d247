// Tag pushes from GitHub or GitLab, as answers to the gate.
//
// A tag matching `git.approveTagFormat` on the commit of a PENDING deployment is the pusher's
// approval of that deployment, under exactly the checks of POST /v1/deployments/{id}/approvals
// (the pusher's principal needs the approver role; the gate refuses authors, the requester,
// the ineligible...). A tag matching `git.requestTagFormat` requests a deployment of its
// commit, when the annotated tag's message names the artifact (GitLab only: GitHub's push
// event carries no tag message, so GitHub tags can approve but not request).
//
// The webhook secret authenticates the sender (GitHub's HMAC signature, GitLab's token); the
// pusher named in the payload is then resolved to a principal through the identities the
// directory knows (GitHub login and email, GitLab username and email).

import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { isRemoteRepo, runGit } from '../../activities/git';
import { DeploymentIndex } from '../../database/deployment-index';
import type { PrincipalEntity } from '../../database/entities/principal.entity';
import type { GitSettings } from '../../policy/config';
import { principalKeys } from '../../policy/identity';
import { canonicalName } from '../../policy/names';
import type { DeploymentView } from '../../policy/types';
import type { PolicyHolder } from '../../settings/policy-file';
import type { Actor } from '../auth/actor';
import { actorOf } from '../auth/auth.service';
import { AuthFailures } from '../auth/rate-limit';
import { AuditService } from '../audit/audit.service';
import { DeploymentsService } from '../deployments/deployments.service';
import { PrincipalsService } from '../principals/principals.service';
import { forbidden, invalid, Problem } from '../problem';
import { CreateDeploymentDto } from '../dto/requests';
import { validateBody } from '../validation';
import { POLICY } from '../tokens';
import {
  parseGitHubPush,
  parseGitLabPush,
  parseTagMessage,
  type Provider,
  type TagPush,
  tagFormatCaptures,
  tagMatches,
  verifyGitHubSignature,
  verifyGitLabToken,
} from './git-payloads';

export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  rawBody?: Buffer;
  body: unknown;
  client: string;
}

export interface ApprovalResult {
  deployment: string;
  outcome: 'accepted' | 'refused';
  /** The gate's reason (AUTHOR, DUPLICATE...), or UNKNOWN_PUSHER / MISSING_ROLE. */
  reason?: string;
  detail?: string;
  status?: string;
}

export interface WebhookAnswer {
  status: 200 | 201 | 202;
  body: Record<string, unknown>;
}

type PendingRow = Awaited<ReturnType<DeploymentIndex['pendingOfCommit']>>[number];

type Pusher = { ok: true; principal: PrincipalEntity; identities: string[] } | { ok: false; reason: string; detail: string; identities: string[] };

function header(req: WebhookRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function providerOf(req: WebhookRequest): { provider?: Provider; event?: string } {
  const gitlab = header(req, 'x-gitlab-event');
  if (gitlab !== undefined) return { provider: 'gitlab', event: gitlab };
  const github = header(req, 'x-github-event');
  if (github !== undefined) return { provider: 'github', event: github };
  return {};
}

@Injectable()
export class GitWebhooksService {
  constructor(
    private readonly index: DeploymentIndex,
    @Inject(POLICY) private readonly policy: PolicyHolder,
    private readonly deployments: DeploymentsService,
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
    private readonly failures: AuthFailures,
  ) {}

  async handle(req: WebhookRequest): Promise<WebhookAnswer> {
    const git = this.policy.current().git;
    if (!git.webhookSecret) {
      throw new Problem(404, 'webhooks-not-configured',
        'git webhooks are not configured here: set git.webhookSecret in the policy file, and the same secret in the GitHub or GitLab webhook');
    }
    this.failures.assertMayTry(req.client, 'webhook secret');
    const { provider, event } = providerOf(req);
    const refusedSender = async (reason: string) => {
      this.failures.record(req.client);
      // What was presented is never stored: only that it failed, and why.
      await this.audit.record({
        type: 'webhook.refused',
        actor: `client:${req.client}`,
        outcome: 'refused',
        reason,
        data: { provider: provider ?? 'unknown', event: event ?? null, delivery: header(req, 'x-github-delivery') ?? header(req, 'x-gitlab-event-uuid') ?? null },
      });
    };
    if (!provider) {
      await refusedSender('neither X-GitHub-Event nor X-Gitlab-Event');
      throw new Problem(401, 'unauthorized',
        'not a GitHub or GitLab webhook: send X-GitHub-Event with X-Hub-Signature-256, or X-Gitlab-Event with X-Gitlab-Token');
    }
    if (!this.verified(provider, req, git.webhookSecret)) {
      const what = provider === 'github' ? 'X-Hub-Signature-256' : 'X-Gitlab-Token';
      await refusedSender(`${what} ${header(req, provider === 'github' ? 'x-hub-signature-256' : 'x-gitlab-token') ? 'does not match' : 'is missing'}`);
      throw new Problem(401, 'bad-webhook-signature',
        `the ${provider === 'github' ? 'GitHub' : 'GitLab'} webhook's ${what} does not match git.webhookSecret; ` +
          'set the same secret in the webhook and in the policy file');
    }

    const parsed = provider === 'github' ? parseGitHubPush(event ?? '', req.body) : parseGitLabPush(event ?? '', req.body);
    if (parsed.kind === 'ignored') return ignored(provider, parsed.reason);
    const push = parsed.push;
    const commit = push.commit ?? (await this.peel(git, push.after));
    if (!commit) return ignored(provider, `the payload names no commit for tag ${push.tag}`, push.tag);

    const pending = await this.index.pendingOfCommit(commit);
    const toApprove = pending.filter((row) => tagMatches(git.approveTagFormat, push.tag, row));
    if (toApprove.length > 0) return this.approve(push, commit, toApprove);
    if (tagFormatCaptures(git.requestTagFormat, push.tag)) return this.request(git, push, commit);
    if (tagFormatCaptures(git.approveTagFormat, push.tag)) {
      return ignored(provider, `no PENDING deployment of commit ${commit} matches approval tag ${push.tag}`, push.tag, commit);
    }
    return ignored(provider,
      `tag ${push.tag} matches neither git.approveTagFormat (${git.approveTagFormat}) nor git.requestTagFormat (${git.requestTagFormat})`,
      push.tag, commit);
  }

  private verified(provider: Provider, req: WebhookRequest, secret: string): boolean {
    return provider === 'github'
      ? verifyGitHubSignature(secret, req.rawBody ?? Buffer.alloc(0), header(req, 'x-hub-signature-256'))
      : verifyGitLabToken(secret, header(req, 'x-gitlab-token'));
  }

  /** The commit an annotated tag object names, when the configured repository is here to ask. */
  private async peel(git: GitSettings, object: string | undefined): Promise<string | undefined> {
    if (!object) return undefined;
    if (git.repo && !isRemoteRepo(git.repo)) {
      try {
        const commit = (await runGit(['rev-parse', '-q', '--verify', `${object}^{commit}`], { cwd: git.repo })).trim();
        if (commit) return commit;
      } catch {
        // not in the local repository: take the object as the commit (a lightweight tag)
      }
    }
    return object;
  }

  private async pusher(push: TagPush): Promise<Pusher> {
    const identities = principalKeys({ emails: push.pusher.emails, logins: push.pusher.logins });
    if (identities.length === 0) {
      return { ok: false, reason: 'UNKNOWN_PUSHER', detail: 'the payload names no pusher (no login, no email)', identities };
    }
    const found = await this.principals.findByIdentityKeys(identities);
    if (found.length === 0) {
      return { ok: false, reason: 'UNKNOWN_PUSHER', detail: `no principal claims the pusher's identities ${identities.join(', ')}; an admin can add them to the pusher's principal`, identities };
    }
    if (found.length > 1) {
      return {
        ok: false,
        reason: 'AMBIGUOUS_PUSHER',
        detail: `the pusher's identities ${identities.join(', ')} belong to different principals (${found.map((p) => p.id).join(', ')}); fix the directory`,
        identities,
      };
    }
    return { ok: true, principal: found[0], identities };
  }

  private async approve(push: TagPush, commit: string, rows: PendingRow[]): Promise<WebhookAnswer> {
    const fields = parseTagMessage(push.message);
    if (fields.problems.length > 0) {
      throw invalid(`the message of tag ${push.tag} cannot be read: ${fields.problems.join('; ')}`, { errors: fields.problems });
    }
    const pusher = await this.pusher(push);
    const comment = `approved by git tag ${push.tag}`;
    const results: ApprovalResult[] = [];
    const failures: Problem[] = [];
    for (const row of rows) {
      // A digest in the tag's message binds the approval to what the approver reviewed.
      const digest = fields.artifact?.digest ?? fields.digest ?? row.artifactDigest;
      const refuse = async (reason: string, detail: string) => {
        await this.audit.record({
          type: 'approval.refused',
          actor: pusher.ok ? pusher.principal.id : `git:${pusher.identities.join(',') || 'unknown'}`,
          deploymentId: row.id,
          outcome: 'refused',
          reason,
          data: { detail, via: `${push.provider} webhook`, tag: push.tag, commit, digest },
        });
        results.push({ deployment: row.id, outcome: 'refused', reason, detail });
      };
      if (!pusher.ok) {
        await refuse(pusher.reason, pusher.detail);
        continue;
      }
      if (!pusher.principal.roles.includes('approver')) {
        await refuse('MISSING_ROLE',
          `${pusher.principal.id} has role${pusher.principal.roles.length === 1 ? '' : 's'} ${pusher.principal.roles.join(', ') || 'none'}; ` +
            'an approval tag needs the approver role');
        continue;
      }
      try {
        const view: DeploymentView = await this.deployments.approve(this.actor(pusher.principal), row.id, digest, comment);
        results.push({ deployment: row.id, outcome: 'accepted', status: view.status });
      } catch (err) {
        if (!(err instanceof Problem)) throw err;
        if (err.getStatus() >= 500) {
          failures.push(err);
          results.push({ deployment: row.id, outcome: 'refused', reason: err.slug.toUpperCase().replace(/-/g, '_'), detail: err.detail });
          continue;
        }
        // The gate (or the service, for a closed deployment) has recorded the refusal itself.
        const reason = typeof err.extensions.reason === 'string' ? err.extensions.reason : err.slug.toUpperCase().replace(/-/g, '_');
        results.push({ deployment: row.id, outcome: 'refused', reason, detail: err.detail });
      }
    }
    const body = {
      outcome: 'approval',
      provider: push.provider,
      tag: push.tag,
      commit,
      pusher: pusher.ok ? pusher.principal.id : null,
      results,
    };
    if (failures.length > 0) {
      // Let the sender redeliver: an approval counted already is then refused as DUPLICATE.
      throw new Problem(503, failures[0].slug, failures[0].detail, body);
    }
    return { status: 200, body };
  }

  private async request(git: GitSettings, push: TagPush, commit: string): Promise<WebhookAnswer> {
    if (push.provider === 'github') {
      throw invalid(
        `tag ${push.tag} matches git.requestTagFormat, but GitHub tag pushes can approve, not request: GitHub's push event ` +
          'does not carry the tag message that names the artifact. Request from the pipeline with POST /v1/deployments, ' +
          'or push the tag to GitLab');
    }
    const captured = tagFormatCaptures(git.requestTagFormat, push.tag) ?? {};
    const fields = parseTagMessage(push.message);
    const problems = [...fields.problems];
    const environment = captured.environment ?? fields.environment;
    const service = captured.service ?? fields.service;
    // Compared as the policy compares names: `Production` in the tag and `production` in the message agree.
    if (captured.environment && fields.environment && canonicalName(captured.environment) !== canonicalName(fields.environment)) {
      problems.push(`the tag names environment ${captured.environment} but its message says ${fields.environment}`);
    }
    if (captured.service && fields.service && canonicalName(captured.service) !== canonicalName(fields.service)) {
      problems.push(`the tag names service ${captured.service} but its message says ${fields.service}`);
    }
    if (!fields.artifact) problems.push('the tag message needs a line "Artifact: <name>@sha256:<64 hex>"');
    if (!service) problems.push('the tag message needs a line "Service: <name>"');
    if (!environment) problems.push(`the tag message needs a line "Environment: <name>" (git.requestTagFormat ${git.requestTagFormat} has no {environment})`);
    if (problems.length > 0) {
      throw invalid(`tag ${push.tag} cannot request a deployment: ${problems.join('; ')}`, { errors: problems });
    }

    const pusher = await this.pusher(push);
    const refuse = async (reason: string, detail: string): Promise<never> => {
      await this.audit.record({
        type: 'request.refused',
        actor: pusher.ok ? pusher.principal.id : `git:${pusher.identities.join(',') || 'unknown'}`,
        outcome: 'refused',
        reason,
        data: { detail, via: `${push.provider} webhook`, tag: push.tag, commit },
      });
      throw forbidden(reason.toLowerCase().replace(/_/g, '-'), detail, { reason });
    };
    if (!pusher.ok) return refuse(pusher.reason, pusher.detail);
    if (!pusher.principal.roles.includes('pipeline')) {
      return refuse('MISSING_ROLE',
        `${pusher.principal.id} has role${pusher.principal.roles.length === 1 ? '' : 's'} ${pusher.principal.roles.join(', ') || 'none'}; ` +
          'a request tag needs the pipeline role');
    }

    const authors = fields.authors.length > 0 ? fields.authors : push.pusher.emails.length > 0 ? push.pusher.emails : push.pusher.logins;
    const body = validateBody(CreateDeploymentDto, {
      service,
      environment,
      artifact: fields.artifact,
      change: {
        commit,
        authors,
        summary: `requested by git tag ${push.tag}`,
        ...(push.projectUrl ? { url: `${push.projectUrl}/-/tags/${encodeURIComponent(push.tag)}` } : {}),
      },
      // A redelivered webhook names the same deployment.
      requestId: requestIdFor(push.tag, commit),
    });
    const { created, deployment } = await this.deployments.create(this.actor(pusher.principal), body);
    return {
      status: created ? 201 : 200,
      body: { outcome: 'request', provider: push.provider, tag: push.tag, commit, pusher: pusher.principal.id, created, deployment },
    };
  }

  private actor(principal: PrincipalEntity): Actor {
    return actorOf(principal, 'git-webhook');
  }
}

function ignored(provider: Provider, reason: string, tag?: string, commit?: string): WebhookAnswer {
  return { status: 202, body: { outcome: 'ignored', provider, reason, ...(tag ? { tag } : {}), ...(commit ? { commit } : {}) } };
}

export function requestIdFor(tag: string, commit: string): string {
  const id = `git-tag:${tag}@${commit}`;
  return id.length <= 200 ? id : `git-tag:${createHash('sha256').update(`${tag}\n${commit}`).digest('hex')}@${commit}`;
}
