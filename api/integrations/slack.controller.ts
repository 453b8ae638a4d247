import { Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiConsumes, ApiHeader, ApiOperation } from '@nestjs/swagger';
import { type AuthenticatedRequest, Public } from '../auth/actor';
import { Answer, Problems } from '../dto/responses';
import { SlackService } from './slack.service';

/** Slack interactivity. Public to the bearer-token guard: Slack's request signature authenticates it. */
@Controller('v1/integrations')
export class SlackController {
  constructor(private readonly slack: SlackService) {}

  @Post('slack/interactions')
  @Public()
  @HttpCode(200)
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiOperation({
    summary: 'Approve and Reject clicked in a Countersign Slack message (authenticated by Slack\'s request signature, not a token)',
    description:
      'Set as the Slack app\'s Interactivity Request URL. Slack POSTs `payload=<JSON>` (a `block_actions` payload), signed with ' +
      '`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}">` using the signing secret of a ' +
      '`slack` channel in `notify.channels`; the timestamp must be within 5 minutes. The Slack user must be claimed by a principal ' +
      '(`slack: ["U…"]`) with the approver role. **Approve** confirms the digest the message shows (the button carries it) and goes ' +
      'through every check of `POST /v1/deployments/{id}/approvals`; **Reject** opens a dialog asking why (with a bot token; its signed ' +
      '`view_submission` rejects with that reason), or without a bot token records the reason "rejected from Slack". ' +
      'The route answers 200 at once; the outcome reaches Slack through the interaction\'s `response_url`: the message updated, or ' +
      'a note only the clicker sees saying why the gate refused.',
  })
  @Answer(200, 'received: the outcome reaches Slack through the interaction\'s response_url')
  @ApiHeader({ name: 'X-Slack-Request-Timestamp', required: true, description: 'seconds since the epoch; within 5 minutes of now' })
  @ApiHeader({ name: 'X-Slack-Signature', required: true, description: 'v0=<hex HMAC-SHA256>' })
  @Problems({
    400: 'no payload= field, or it is not a JSON object',
    401: 'the signature does not match, or the timestamp is missing or more than 5 minutes off (audited)',
    404: 'no slack channel with a signingSecret is configured',
    429: 'too many failed authentications from this client',
  })
  async interactions(@Req() req: AuthenticatedRequest): Promise<void> {
    await this.slack.handle({
      headers: req.headers,
      rawBody: req.rawBody,
      client: req.ip ?? req.socket.remoteAddress ?? 'unknown',
      baseUrl: `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`,
    });
  }
}
