// An answer to the gate whose input is refused before it reaches the gate (a body that breaks
// its schema, or that the input guard turned away) is still an attempt: the audit trail keeps
// it, attributed to whoever sent it.

import { applyDecorators, type CallHandler, type ExecutionContext, Injectable, type NestInterceptor, SetMetadata, UseInterceptors } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { catchError, type Observable } from 'rxjs';
import type { AnswerKind } from '../../policy/types';
import type { AuthenticatedRequest } from '../auth/actor';
import { isRefusedInput } from '../validation';
import { DeploymentsService } from './deployments.service';

const ANSWER_KIND = 'countersign:answerKind';

@Injectable()
export class RefusedInputRecorder implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly deployments: DeploymentsService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const kind = this.reflector.get<AnswerKind | undefined>(ANSWER_KIND, context.getHandler());
    return next.handle().pipe(
      catchError(async (err: unknown) => {
        const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
        if (kind && req.actor && isRefusedInput(err)) {
          await this.deployments.recordMalformed(req.actor, String(req.params.id), kind, err.detail);
        }
        throw err;
      }),
    );
  }
}

/** This route is an answer of this kind to a deployment's gate: refused input is recorded. */
export const AnswerToGate = (kind: AnswerKind) => applyDecorators(SetMetadata(ANSWER_KIND, kind), UseInterceptors(RefusedInputRecorder));
