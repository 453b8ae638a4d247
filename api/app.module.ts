import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { Client } from '@temporalio/client';
import type { DataSource } from 'typeorm';
import type { PolicyHolder } from '../runtime/policy-file';
import { AuditController } from './audit/audit.controller';
import { AuditService } from './audit/audit.service';
import { AuthGuard } from './auth/auth.guard';
import { AuthService } from './auth/auth.service';
import { OidcAuthenticator } from './auth/oidc';
import { DeploymentsController } from './deployments/deployments.controller';
import { DeploymentsService } from './deployments/deployments.service';
import { HealthController } from './health/health.controller';
import { Metrics } from './health/metrics';
import { PolicyController } from './policy/policy.controller';
import { PrincipalsController } from './principals/principals.controller';
import { PrincipalsService } from './principals/principals.service';
import { ProblemFilter } from './problem';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, POLICY, TEMPORAL_CLIENT } from './tokens';

export interface ApiDependencies {
  dataSource: DataSource;
  temporal: Client;
  policy: PolicyHolder;
  options: ApiOptions;
}

@Module({})
export class AppModule {
  static forRoot(deps: ApiDependencies): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, PrincipalsController, DeploymentsController, AuditController, PolicyController],
      providers: [
        { provide: DATA_SOURCE, useValue: deps.dataSource },
        { provide: TEMPORAL_CLIENT, useValue: deps.temporal },
        { provide: POLICY, useValue: deps.policy },
        { provide: API_OPTIONS, useValue: deps.options },
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
        AuthService,
        OidcAuthenticator,
        AuditService,
        PrincipalsService,
        DeploymentsService,
        Metrics,
      ],
    };
  }
}
