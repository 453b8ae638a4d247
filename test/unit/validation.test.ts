// The one validation pipe and the DTO declarations it reads (api/validation.ts): a handler
// cannot take a body or query that no schema declares, and what is refused says why.

import 'reflect-metadata';
import { SchemaValidationPipe, validateBody, ValidBody, ValidQuery } from '../../api/validation';
import { ApprovalDto, CreateDeploymentDto, ListDeploymentsQuery, ReviewDto } from '../../api/dto/requests';
import { DEPLOYMENT_STATUSES } from '../../policy/types';
import { Problem } from '../../api/problem';

const pipe = new SchemaValidationPipe();
const refusal = (run: () => unknown): Problem => {
  try {
    run();
  } catch (err) {
    if (err instanceof Problem) return err;
    throw err;
  }
  throw new Error('expected a problem');
};

describe('request DTOs and the validation pipe', () => {
  it('refuses to define a handler whose body or query is not typed with a declared DTO', () => {
    expect(() => {
      class Untyped {
        handle(@ValidBody() _body: unknown) {}
      }
      return Untyped;
    }).toThrow(/must be typed with a DTO class declared by @BodySchema/);
    expect(() => {
      class BodyAsQuery {
        handle(@ValidQuery() _query: ApprovalDto) {}
      }
      return BodyAsQuery;
    }).toThrow(/declared by @QuerySchema/);
  });

  it('checks a body against its own DTO: the review body is not the rejection body', () => {
    const refused = refusal(() => pipe.transform({ digest: 'sha256:x' }, { type: 'body', metatype: ReviewDto }));
    expect(refused.getStatus()).toBe(422);
    expect(refused.detail).toBe('digest is not a known field; remove it');
    expect(pipe.transform(undefined, { type: 'body', metatype: ReviewDto })).toEqual({});
  });

  it('names every field at fault in a body, in words', () => {
    const refused = refusal(() => pipe.transform({ digest: 'sha256:nope', approver: 'bob' }, { type: 'body', metatype: ApprovalDto }));
    expect(refused.extensions.errors).toEqual(expect.arrayContaining([
      'approver is not a known field; remove it',
      'digest must be `sha256:` followed by 64 lowercase hex characters: the digest you reviewed, which must be the artifact\'s',
    ]));
  });

  it('answers a bad query parameter with 400 naming it and what was sent, and coerces good ones', () => {
    const refused = refusal(() => pipe.transform({ status: 'DONE', limit: 'many' }, { type: 'query', metatype: ListDeploymentsQuery }));
    expect(refused.getStatus()).toBe(400);
    expect(refused.detail).toContain(`status must be one of ${DEPLOYMENT_STATUSES.join(', ')}, got "DONE"`);
    expect(refused.detail).toContain('limit must be a whole number from 1 to 200, got "many"');
    expect(pipe.transform({ limit: '5', overridden: 'true' }, { type: 'query', metatype: ListDeploymentsQuery })).toEqual({ limit: 5, overridden: true });
    expect(pipe.transform({}, { type: 'query', metatype: ListDeploymentsQuery })).toEqual({ limit: 50 });
  });

  it('checks a body built in code (a git tag\'s request) exactly as one sent', () => {
    expect(refusal(() => validateBody(CreateDeploymentDto, { service: 'web' })).detail).toContain('environment is required');
  });
});
