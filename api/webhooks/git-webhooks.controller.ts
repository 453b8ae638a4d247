import { Controller, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { type AuthenticatedRequest, Public } from '../auth/actor';
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
