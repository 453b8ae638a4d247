import { Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { PolicyError } from '../../policy/config';
import type { PolicyHolder } from '../../settings/policy-file';
import { type Actor, CurrentActor, Roles } from '../auth/actor';
import { AuditService } from '../audit/audit.service';
import { invalid } from '../problem';
import { POLICY } from '../tokens';

@Controller('v1/policy')
@Roles('admin')
export class PolicyController {
  constructor(
    @Inject(POLICY) private readonly policy: PolicyHolder,
    private readonly audit: AuditService,
  ) {}

  @Get()
  current() {
    const { tiers, rules, environments, services, hash } = this.policy.current();
    return { file: this.policy.file, hash, tiers, rules, environments, services };
  }

  /** Reloads the policy file with start-up's validation; running requests keep their rule. */
  @Post('reload')
  @HttpCode(200)
  async reload(@CurrentActor() actor: Actor) {
    const before = this.policy.current().hash;
    try {
      const after = this.policy.reload();
      await this.audit.record({ type: 'policy.reloaded', actor: actor.id, outcome: 'reloaded', data: { before, after: after.hash } });
      return { hash: after.hash, changed: after.hash !== before };
    } catch (err) {
      if (err instanceof PolicyError) {
        await this.audit.record({ type: 'policy.reload.refused', actor: actor.id, outcome: 'refused', reason: err.message });
        throw invalid(`${err.message}\nThe policy in force (${before}) stays.`, { problems: err.problems });
      }
      throw err;
    }
  }
}
