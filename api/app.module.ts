import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { Client } from '@temporalio/client';
import { LoggerModule } from 'nestjs-pino';
import type { DataSource } from 'typeorm';
import { DeploymentIndex } from '../database/deployment-index';
import type { EvidenceKey } from '../evidence/keys';
import type { Logger } from '../settings/logger';
import type { PolicyHolder } from '../settings/policy-file';
import { AuditController } from './audit/audit.controller';
import { AuditService } from './audit/audit.service';
import { AuthGuard } from './auth/auth.guard';
import { AuthFailures } from './auth/rate-limit';
import { AuthService } from './auth/auth.service';
import { OidcAuthenticator } from './auth/oidc';
import { DeploymentsController } from './deployments/deployments.controller';
import { DeploymentsService } from './deployments/deployments.service';
import { DeploymentEvents } from './deployments/deployment-events';
import { DeploymentStreams } from './deployments/deployment-stream';
import { GateClient } from './deployments/gate-client';
import { EvidenceController, KeysController } from './evidence/evidence.controller';
import { FreezesController } from './freezes/freezes.controller';
import { HealthController } from './health/health.controller';
import { Metrics, RefusalMetricsInterceptor } from './health/metrics';
import { PolicyController } from './policy/policy.controller';
import { PrincipalsController } from './principals/principals.controller';
import { PrincipalsService } from './principals/principals.service';
import { ProblemFilter } from './problem';
import { SchemaValidationPipe } from './validation';
import { UiOidc } from './ui/oidc-sign-in';
import { UiSessions } from './ui/sessions';
import { UiController } from './ui/ui.controller';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, EVIDENCE_KEY, POLICY, TEMPORAL_CLIENT } from './tokens';
import { SlackController } from './integrations/slack.controller';
import { SlackService } from './integrations/slack.service';
import { GitWebhooksController } from './webhooks/git-webhooks.controller';
import { GitWebhooksService } from './webhooks/git-webhooks.service';

export interface ApiDependencies {
  dataSource: DataSource;
  temporal: Client;
  policy: PolicyHolder;
  options: ApiOptions;
  /** Signs evidence; without it GET /v1/deployments/{id}/evidence answers 503. */
  evidenceKey?: EvidenceKey;
  /** The process's logger (settings/logger.ts); Nest's `Logger` writes through it. */
  logger?: Logger;
}

@Module({})
export class AppModule {
  static forRoot(deps: ApiDependencies): DynamicModule {
    return {
      module: AppModule,
      // Request lines come from pino-http in api/server.ts, ahead of every other middleware.
      imports: [LoggerModule.forRoot({ pinoHttp: deps.logger ? { logger: deps.logger } : {}, useExisting: true })],
      controllers: [HealthController, PrincipalsController, DeploymentsController, AuditController, PolicyController, GitWebhooksController, EvidenceController, KeysController, UiController, SlackController, FreezesController],
      providers: [
        { provide: DATA_SOURCE, useValue: deps.dataSource },
        { provide: TEMPORAL_CLIENT, useValue: deps.temporal },
        { provide: POLICY, useValue: deps.policy },
        { provide: API_OPTIONS, useValue: deps.options },
        { provide: EVIDENCE_KEY, useValue: deps.evidenceKey ?? null },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
        { provide: APP_INTERCEPTOR, useClass: RefusalMetricsInterceptor },
        { provide: APP_PIPE, useClass: SchemaValidationPipe },
        AuthService,
        AuthFailures,
        OidcAuthenticator,
        AuditService,
        PrincipalsService,
        { provide: DeploymentIndex, useFactory: (db: DataSource) => new DeploymentIndex(db), inject: [DATA_SOURCE] },
        GateClient,
        DeploymentsService,
        DeploymentEvents,
        DeploymentStreams,
        GitWebhooksService,
        SlackService,
        Metrics,
        UiSessions,
        UiOidc,
      ],
    };
  }
}
