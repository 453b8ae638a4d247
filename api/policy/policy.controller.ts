import { Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { PolicyError } from '../../policy/config';
import type { PolicyHolder } from '../../settings/policy-file';
import { type Actor, CurrentActor, Roles } from '../auth/actor';
import { AuditService } from '../audit/audit.service';
import { Answer, AUTHENTICATED_PROBLEMS, Problems } from '../dto/responses';
import { invalid } from '../problem';
import { POLICY } from '../tokens';

@Controller('v1/policy')
@Roles('admin')
@Problems(AUTHENTICATED_PROBLEMS)
export class PolicyController {
  constructor(
    @Inject(POLICY) private readonly policy: PolicyHolder,
    private readonly audit: AuditService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'The policy in force (admin)' })
  @Answer(200, 'the file, its hash, tiers, rules and the names it knows', 'Policy')
  current() {
    const { tiers, rules, environments, services, hash } = this.policy.current();
    return { file: this.policy.file, hash, tiers, rules, environments, services };
  }

  /** Reloads the policy file with start-up's validation; running requests keep their rule. */
  @Post('reload')
  @HttpCode(200)
  @ApiOperation({ summary: 'Reload the policy file (admin); an invalid file is refused and the old policy stays' })
  @Answer(200, 'reloaded', 'PolicyReloaded')
  @Problems({ 422: 'the file is invalid; detail names the key' })
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
