// Builds the HTTP API around a database, a Temporal client and the policy.

import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SwaggerModule } from '@nestjs/swagger';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Logger as NestPinoLogger } from 'nestjs-pino';
import { pinoHttp } from 'pino-http';
import { createLogger, type LogLevel, requestFields, responseFields } from '../settings/logger';
import { AppModule, type ApiDependencies } from './app.module';
import type { AuthenticatedRequest } from './auth/actor';
import { Metrics } from './health/metrics';
import { inputGuard } from './input-guard';
import { openApiDocument } from './openapi';
import { PrincipalsService } from './principals/principals.service';
import { Problem, sendProblem, toProblem } from './problem';
import { isUiPath, UI_MOUNT, uiMiddleware } from './ui/middleware';

const SLACK_INTERACTIONS = '/v1/integrations/slack/interactions';

export interface ApiServer {
  app: INestApplication;
  url: string;
  close(): Promise<void>;
}

export async function createApiServer(
  deps: ApiDependencies & { port: number; host?: string; adminToken?: string; logLevel?: LogLevel },
): Promise<ApiServer> {
  const logger = deps.logger ?? createLogger({ level: deps.logLevel ?? 'info', name: 'api' });
  const app = await NestFactory.create(AppModule.forRoot({ ...deps, logger }), { bodyParser: false, bufferLogs: true });
  // Nest's own lines and every `new Logger(...)` in the API write JSON through the same pino.
  app.useLogger(app.get(NestPinoLogger));
  // One line per request, whatever answers it: method, path, status, time. Never headers
  // (tokens, webhook signatures), bodies or query strings (settings/logger.ts).
  app.use(pinoHttp({
    logger,
    serializers: { req: requestFields, res: responseFields },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
  }));
  const metrics = app.get(Metrics);
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => metrics.countRequest(req.method, (req.route?.path as string | undefined) ?? 'unmatched', res.statusCode));
    next();
  });
  // The approver page: its security headers, and its forms (urlencoded), which the JSON-only rule below leaves to it.
  app.use(UI_MOUNT, ...uiMiddleware());
  // Slack sends interactions as a form, signed over the exact bytes: kept raw, parsed by the route.
  app.use(SLACK_INTERACTIONS, express.raw({ type: () => true, limit: '1mb' }), (req: Request, _res: Response, next: NextFunction) => {
    (req as AuthenticatedRequest).rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    (req as { slackForm?: boolean }).slackForm = true;
    req.body = undefined;
    next();
  });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (isUiPath(req.originalUrl) || (req as { slackForm?: boolean }).slackForm) return next();
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && ['POST', 'PUT', 'PATCH'].includes(req.method) && !req.is(['application/json', 'application/*+json'])) {
      return sendProblem(res, new Problem(415, 'unsupported-media-type',
        `send the body as JSON with Content-Type: application/json (got ${req.headers['content-type'] ?? 'no Content-Type'})`), req.originalUrl);
    }
    next();
  });
  app.use(express.json({
    limit: '1mb',
    type: ['application/json', 'application/*+json'],
    // Webhook signatures are computed over the exact bytes received.
    verify: (req, _res, buf) => {
      (req as AuthenticatedRequest).rawBody = buf;
    },
  }));
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    sendProblem(res, toProblem(err), req.originalUrl);
  });
  // NUL, lone surrogates, control characters, repeated query parameters, deep nesting: 400
  // before any route reads the input (api/input-guard.ts).
  app.use(inputGuard());
  SwaggerModule.setup('docs', app, openApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json' });
  if (deps.adminToken) await app.get(PrincipalsService).ensureBootstrapAdmin(deps.adminToken);
  await app.listen(deps.port, deps.host ?? '0.0.0.0');
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://${deps.host && deps.host !== '0.0.0.0' ? deps.host : '127.0.0.1'}:${address.port}`;
  return { app, url, close: () => app.close() };
}
