import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { Roles } from '../auth/actor';
import { validateBody } from '../schemas';
import { type PrincipalInput, type PrincipalPatch, PrincipalsService, principalView } from './principals.service';

@Controller('v1/principals')
@Roles('admin')
export class PrincipalsController {
  constructor(private readonly principals: PrincipalsService) {}

  @Post()
  async create(@Body() body: unknown) {
    const input = validateBody<PrincipalInput>('CreatePrincipal', body);
    const { principal, token, tokenId } = await this.principals.create(input);
    return { ...principalView(principal), token, tokenId };
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
  async update(@Param('id') id: string, @Body() body: unknown) {
    const patch = validateBody<PrincipalPatch>('UpdatePrincipal', body);
    return principalView(await this.principals.update(id, patch));
  }

  @Post(':id/tokens')
  async createToken(@Param('id') id: string, @Body() body: unknown) {
    const { expiresIn } = validateBody<{ expiresIn?: string }>('CreateToken', body);
    const { token, tokenId, expiresAt } = await this.principals.createToken(id, expiresIn);
    return { id: tokenId, token, expiresAt: expiresAt?.toISOString() ?? null };
  }

  @Get(':id/tokens')
  async listTokens(@Param('id') id: string) {
    return { tokens: await this.principals.listTokens(id) };
  }

  @Delete(':id/tokens/:tokenId')
  @HttpCode(204)
  async revokeToken(@Param('id') id: string, @Param('tokenId') tokenId: string): Promise<void> {
    await this.principals.revokeToken(id, tokenId);
  }
}
