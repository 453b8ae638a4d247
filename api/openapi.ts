// The OpenAPI document served at /docs and /docs/openapi.json, generated from the routes
// themselves: their decorators, the request DTOs that validate input (api/dto/requests.ts)
// and the answers' schemas (api/dto/responses.ts). Only the header is written here.

import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { responseSchemas } from './dto/responses';
import { requestSchemas } from './validation';

const description =
  'Deployment approval gate: no change reaches production unless someone other than its author approved it, ' +
  'for exactly the artifact deployed. Every route but /healthz, /readyz, /metrics, /v1/keys, /v1/webhooks/git and /docs needs ' +
  '`Authorization: Bearer <token>`; who acts is the token\'s principal, never a field of the body. ' +
  'Every error is an RFC 9457 problem document.';

export function openApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.0.3')
    .setTitle('Countersign')
    .setVersion('0.1.0')
    .setDescription(description)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A Countersign token, or an OIDC JWT from an issuer under auth.oidc' }, 'bearer')
    .addSecurityRequirements('bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  const requests = requestSchemas();
  const responses = responseSchemas();
  for (const name of Object.keys(requests)) {
    if (name in responses) throw new Error(`${name} names both a request body and an answer; give them different names`);
  }
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ...requests, ...responses } };
  return document;
}
