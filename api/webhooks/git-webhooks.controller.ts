import { Controller, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation } from '@nestjs/swagger';
import type { Response } from 'express';
import { type AuthenticatedRequest, Public } from '../auth/actor';
import { Answer, Problems } from '../dto/responses';
import { GitWebhooksService } from './git-webhooks.service';

/**
 * GitHub and GitLab tag pushes. Public to the bearer-token guard: the webhook secret
 * (GitHub's HMAC signature, GitLab's token) authenticates the sender instead.
 */
@Controller('v1/webhooks')
export class GitWebhooksController {
  constructor(private readonly webhooks: GitWebhooksService) {}

  @Post('git')
  @Public()
  @ApiOperation({
    summary: 'GitHub or GitLab tag pushes: approve or request deployments (authenticated by git.webhookSecret, not a token)',
    description:
      'Set the webhook to send JSON (`application/json`) push / tag push events with the policy\'s `git.webhookSecret`. ' +
      'GitHub: `X-GitHub-Event: push` signed with `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`; GitLab: ' +
      '`X-Gitlab-Event: Tag Push Hook` with `X-Gitlab-Token: <secret>`. The pusher (GitHub `sender.login` and `pusher.email`, ' +
      'GitLab `user_username` and `user_email`) must be a principal that claims those identities.\n\n' +
      '**Approve**: a tag matching `git.approveTagFormat` (default `approve/{environment}/*`, `{environment}` being each ' +
      'pending deployment\'s) on the commit of a PENDING deployment is the pusher\'s approval of it, under every check of ' +
      '`POST /v1/deployments/{id}/approvals` (approver role, not an author, not the requester, eligible groups); a ' +
      '`Digest:` or `Artifact:` line in a GitLab tag message binds it to that digest, otherwise the deployment\'s own. ' +
      'Answers 200 with one result per deployment, accepted or refused with the gate\'s reason.\n\n' +
      '**Request** (GitLab only: GitHub\'s push event carries no tag message): a tag matching `git.requestTagFormat` ' +
      '(default `request/{environment}/*`) whose annotated message has `Artifact: <name>@sha256:<64 hex>` and ' +
      '`Service: <name>` lines (optionally `Environment:` and `Authors:`) requests a deployment of its commit, the pusher ' +
      'being the requesting pipeline (pipeline role); authors are the pusher unless `Authors:` lines say otherwise. ' +
      'A redelivery answers the same deployment (200).',
  })
  @ApiHeader({ name: 'X-GitHub-Event', required: false, description: 'push (other events are ignored)' })
  @ApiHeader({ name: 'X-Hub-Signature-256', required: false, description: 'sha256=<hex HMAC of the raw body>' })
  @ApiHeader({ name: 'X-Gitlab-Event', required: false, description: 'Tag Push Hook (other events are ignored)' })
  @ApiHeader({ name: 'X-Gitlab-Token', required: false, description: 'the webhook secret' })
  // The git host's own payload, checked by ./git-payloads.ts: its shape is the host's to define.
  @ApiBody({ required: true, schema: { type: 'object', description: 'the GitHub push or GitLab tag push payload, as sent' } })
  @Answer(200, 'approval: one result per matching PENDING deployment; or request: the deployment a redelivery already made', 'GitWebhookAnswer')
  @Answer(201, 'request: the deployment the tag requested, PENDING', 'GitWebhookAnswer')
  @Answer(202, 'ignored: not a tag push, a deleted tag, or a tag matching no format or no PENDING deployment; `reason` says which', 'GitWebhookAnswer')
  @Problems({
    400: 'not JSON, or text that cannot be stored',
    401: 'no GitHub or GitLab event header, or the signature or token does not match git.webhookSecret (audited)',
    403: 'request tag: the pusher is unknown or lacks the pipeline role (audited)',
    404: 'git webhooks are not configured: no git.webhookSecret in the policy',
    415: 'the body is not application/json: set the webhook\'s content type to JSON',
    422: 'a request tag from GitHub, or a tag message without the Artifact / Service lines',
    429: 'too many failed authentications from this client',
    503: 'the gate did not answer; the sender may redeliver',
  })
  async git(@Req() req: AuthenticatedRequest, @Res({ passthrough: true }) res: Response) {
    const answer = await this.webhooks.handle({
      headers: req.headers,
      rawBody: req.rawBody,
      body: req.body,
      client: req.ip ?? req.socket.remoteAddress ?? 'unknown',
    });
    res.status(answer.status);
    return answer.body;
  }
}
