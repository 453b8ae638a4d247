import { Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { type Actor, CurrentActor, Roles } from '../auth/actor';
import { AuditService } from '../audit/audit.service';
import { CreatePrincipalDto, CreateTokenDto, UpdatePrincipalDto } from '../dto/requests';
import { Answer, AUTHENTICATED_PROBLEMS, Problems } from '../dto/responses';
import { ValidBody } from '../validation';
import { PrincipalsService, principalView } from './principals.service';

const NO_SUCH_PRINCIPAL = { 404: 'no such principal' };
const INVALID_BODY = { 400: 'not JSON, or text that cannot be stored', 415: 'the body is not application/json', 422: 'the body does not match the schema; `detail` lists every error' };

@Controller('v1/principals')
@Roles('admin')
@Problems(AUTHENTICATED_PROBLEMS)
export class PrincipalsController {
  // Whoever manages principals and tokens could act as anyone: every change is on the record
  // (never a secret), so that an approval by a freshly minted account or token can be traced.
  constructor(
    private readonly principals: PrincipalsService,
    private readonly audit: AuditService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create a principal (admin); answers its first token, shown once' })
  @Answer(201, 'created', 'CreatedPrincipal')
  @Problems({ ...INVALID_BODY, 409: 'the id exists, or an identity belongs to someone else' })
  async create(@CurrentActor() actor: Actor, @ValidBody() body: CreatePrincipalDto) {
    const { principal, token, tokenId } = await this.principals.create(body);
    const view = principalView(principal);
    await this.audit.record({ type: 'principal.created', actor: actor.id, outcome: 'created', data: { principal: view, tokenId } });
    return { ...view, token, tokenId };
  }

  @Get()
  @ApiOperation({ summary: 'List principals (admin)' })
  @Answer(200, 'principals', 'PrincipalList')
  async list() {
    return { principals: (await this.principals.list()).map(principalView) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One principal, never a secret (admin)' })
  @Answer(200, 'principal', 'Principal')
  @Problems(NO_SUCH_PRINCIPAL)
  async get(@Param('id') id: string) {
    return principalView(await this.principals.get(id));
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change identities, roles, groups or scopes (admin)' })
  @Answer(200, 'principal', 'Principal')
  @Problems({ ...INVALID_BODY, ...NO_SUCH_PRINCIPAL, 409: 'an identity belongs to someone else' })
  async update(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() patch: UpdatePrincipalDto) {
    const view = principalView(await this.principals.update(id, patch));
    await this.audit.record({ type: 'principal.updated', actor: actor.id, outcome: 'updated', data: { id, patch, principal: view } });
    return view;
  }

  @Post(':id/tokens')
  @ApiOperation({ summary: 'Issue a token (admin)' })
  @Answer(201, 'token, shown once', 'TokenSecret')
  @Problems({ ...INVALID_BODY, ...NO_SUCH_PRINCIPAL })
  async createToken(@CurrentActor() actor: Actor, @Param('id') id: string, @ValidBody() body: CreateTokenDto) {
    const { token, tokenId, expiresAt } = await this.principals.createToken(id, body.expiresIn);
    await this.audit.record({ type: 'token.issued', actor: actor.id, outcome: 'issued', data: { principal: id, tokenId, expiresAt: expiresAt?.toISOString() ?? null } });
    return { id: tokenId, token, expiresAt: expiresAt?.toISOString() ?? null };
  }

  @Get(':id/tokens')
  @ApiOperation({ summary: 'List tokens without secrets (admin)' })
  @Answer(200, 'tokens', 'TokenList')
  @Problems(NO_SUCH_PRINCIPAL)
  async listTokens(@Param('id') id: string) {
    return { tokens: await this.principals.listTokens(id) };
  }

  @Delete(':id/tokens/:tokenId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a token (admin): refused from then on' })
  @Answer(204, 'revoked')
  @Problems({ 404: 'no such token' })
  async revokeToken(@CurrentActor() actor: Actor, @Param('id') id: string, @Param('tokenId') tokenId: string): Promise<void> {
    await this.principals.revokeToken(id, tokenId);
    await this.audit.record({ type: 'token.revoked', actor: actor.id, outcome: 'revoked', data: { principal: id, tokenId } });
  }
}
