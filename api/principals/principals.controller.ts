import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { type Actor, CurrentActor, Roles } from '../auth/actor';
import { AuditService } from '../audit/audit.service';
import { validateBody } from '../schemas';
import { type PrincipalInput, type PrincipalPatch, PrincipalsService, principalView } from './principals.service';

@Controller('v1/principals')
@Roles('admin')
export class PrincipalsController {
  // Whoever manages principals and tokens could act as anyone: every change is on the record
  // (never a secret), so that an approval by a freshly minted account or token can be traced.
  constructor(
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  @Post()
  async create(@CurrentActor() actor: Actor, @Body() body: unknown) {
    const input = validateBody<PrincipalInput>('CreatePrincipal', body);
    const { principal, token, tokenId } = await this.principals.create(input);
    const view = principalView(principal);
    await this.audit.record({ type: 'principal.created', actor: actor.id, outcome: 'created', data: { principal: view, tokenId } });
    return { ...view, token, tokenId };
  }

  @Get()
  async list() {
    return { principals: (await this.principals.list()).map(principalView) };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    return principalView(await this.principals.get(id));
  }

  @Patch(':id')
  async update(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const patch = validateBody<PrincipalPatch>('UpdatePrincipal', body);
    const view = principalView(await this.principals.update(id, patch));
    await this.audit.record({ type: 'principal.updated', actor: actor.id, outcome: 'updated', data: { id, patch, principal: view } });
    return view;
  }

  @Post(':id/tokens')
  async createToken(@CurrentActor() actor: Actor, @Param('id') id: string, @Body() body: unknown) {
    const { expiresIn } = validateBody<{ expiresIn?: string }>('CreateToken', body);
    const { token, tokenId, expiresAt } = await this.principals.createToken(id, expiresIn);
    await this.audit.record({ type: 'token.issued', actor: actor.id, outcome: 'issued', data: { principal: id, tokenId, expiresAt: expiresAt?.toISOString() ?? null } });
    return { id: tokenId, token, expiresAt: expiresAt?.toISOString() ?? null };
  }

  @Get(':id/tokens')
  async listTokens(@Param('id') id: string) {
    return { tokens: await this.principals.listTokens(id) };
  }

  @Delete(':id/tokens/:tokenId')
  @HttpCode(204)
  async revokeToken(@CurrentActor() actor: Actor, @Param('id') id: string, @Param('tokenId') tokenId: string): Promise<void> {
    await this.principals.revokeToken(id, tokenId);
    await this.audit.record({ type: 'token.revoked', actor: actor.id, outcome: 'revoked', data: { principal: id, tokenId } });
  }
}
