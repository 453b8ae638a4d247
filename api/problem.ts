// RFC 9457 problem documents: every error this API answers is one, with a `detail` that says
// what to do about it.

import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { isDatabaseUnavailable } from '../database/unavailable';
import type { RefusalReason } from '../policy/types';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export const PROBLEM_BASE = 'https://countersign.dev/problems/';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

export class Problem extends HttpException {
  constructor(
    status: number,
    readonly slug: string,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail, status);
  }

  body(instance?: string): ProblemBody {
    return {
      type: `${PROBLEM_BASE}${this.slug}`,
      title: TITLES[this.getStatus()] ?? 'Error',
      status: this.getStatus(),
      detail: this.detail,
      ...(instance ? { instance } : {}),
      ...this.extensions,
    };
  }
}

export const badRequest = (detail: string, ext?: Record<string, unknown>) => new Problem(400, 'bad-request', detail, ext);
export const invalid = (detail: string, ext?: Record<string, unknown>) => new Problem(422, 'invalid-request', detail, ext);
export const notFound = (detail: string) => new Problem(404, 'not-found', detail);
export const forbidden = (slug: string, detail: string, ext?: Record<string, unknown>) => new Problem(403, slug, detail, ext);
export const conflict = (slug: string, detail: string, ext?: Record<string, unknown>) => new Problem(409, slug, detail, ext);

/**
 * How each refusal the gate gives is answered over HTTP: 403 when this principal may not give
 * this answer, 409 when the deployment's state does not allow it.
 */
export const REFUSAL_STATUS: Record<RefusalReason, 403 | 409> = {
  AUTHOR: 403,
  REQUESTER: 403,
  NOT_ELIGIBLE: 403,
  NOT_PERMITTED: 403,
  OVERRIDER: 403,
  DIGEST_MISMATCH: 409,
  NOT_PENDING: 409,
  DUPLICATE: 409,
  EXPIRED: 409,
  NOT_OVERRIDDEN: 409,
  ALREADY_REVIEWED: 409,
};

/** The problem a refusal of the gate is answered with; `extensions` name what it concerns. */
export function refusalProblem(reason: RefusalReason, detail: string, extensions: Record<string, unknown> = {}): Problem {
  return new Problem(REFUSAL_STATUS[reason], reason.toLowerCase().replace(/_/g, '-'), detail, { reason, ...extensions });
}

export function sendProblem(res: Response, problem: Problem, instance?: string): void {
  for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
  res.status(problem.getStatus()).type('application/problem+json').send(JSON.stringify(problem.body(instance)));
}

/** Turns whatever was thrown into a problem document; an unexpected error never leaks detail. */
export function toProblem(err: unknown): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const response = err.getResponse();
    const message =
      typeof response === 'object' && response !== null && 'message' in response
        ? String((response as { message: unknown }).message)
        : err.message;
    if (status === HttpStatus.NOT_FOUND) {
      return new Problem(404, 'not-found', `${message}; see /docs for the routes this API serves`);
    }
    return new Problem(status, 'http-error', message);
  }
  const bodyError = err as { type?: string; status?: number; message?: string };
  if (bodyError?.type === 'entity.parse.failed') {
    return badRequest(`the request body is not valid JSON (${bodyError.message}); send a JSON object with Content-Type: application/json`);
  }
  if (bodyError?.type === 'entity.too.large') {
    return new Problem(413, 'too-large', 'the request body is larger than 1 MiB; send less');
  }
  if (bodyError?.type === 'charset.unsupported' || bodyError?.type === 'encoding.unsupported') {
    return new Problem(415, 'unsupported-encoding', `${bodyError.message}; send UTF-8 JSON`);
  }
  if (typeof bodyError?.status === 'number' && bodyError.status >= 400 && bodyError.status < 500) {
    return new Problem(bodyError.status, 'bad-request', bodyError.message ?? 'the request could not be read');
  }
  const unavailable = unavailableProblem(err);
  if (unavailable) return unavailable;
  return new Problem(500, 'internal', 'Countersign failed to handle this request; it has been logged. Retry, and report it if it persists.');
}

/** Seconds a client is asked to wait before retrying while a server Countersign needs is out. */
export const RETRY_AFTER_SECONDS = 5;

// gRPC status codes: the Temporal server cannot be reached, or did not answer in time.
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

function isTemporalUnavailable(err: unknown): boolean {
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 5; depth += 1) {
    const candidate = current as { code?: unknown; details?: unknown; cause?: unknown };
    if ((candidate.code === GRPC_UNAVAILABLE || candidate.code === GRPC_DEADLINE_EXCEEDED) && 'details' in candidate) return true;
    current = candidate.cause;
  }
  return false;
}

/** 503 with Retry-After when PostgreSQL or Temporal cannot be reached: a fault, not a bug. */
export function unavailableProblem(err: unknown): Problem | undefined {
  const headers = { 'Retry-After': String(RETRY_AFTER_SECONDS) };
  const readFirst = 'if this request changed something, read its state before sending it again: it may have taken effect';
  if (isDatabaseUnavailable(err)) {
    return new Problem(503, 'database-unavailable',
      `Countersign's database cannot be reached right now; retry in ${RETRY_AFTER_SECONDS} seconds (${readFirst})`, {}, headers);
  }
  if (isTemporalUnavailable(err)) {
    return new Problem(503, 'temporal-unavailable',
      `the Temporal server that runs the gate cannot be reached right now; retry in ${RETRY_AFTER_SECONDS} seconds (${readFirst})`, {}, headers);
  }
  return undefined;
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('Problem');

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const problem = toProblem(err);
    if (problem.getStatus() === 503) {
      this.logger.warn(`${req.method} ${req.originalUrl}: ${problem.slug}: ${(err as Error)?.message ?? String(err)}`);
    } else if (problem.getStatus() >= 500) {
      this.logger.error(`${req.method} ${req.originalUrl}: ${(err as Error)?.stack ?? String(err)}`);
    }
    if (res.headersSent) return;
    sendProblem(res, problem, req.originalUrl);
  }
}
