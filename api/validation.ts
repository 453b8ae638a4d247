// Request input has one declaration: a DTO class carrying the JSON Schema of a body or of a
// query string. `@ValidBody()` and `@ValidQuery()` bind a handler's parameter to it, and
// from that one class come both the check (SchemaValidationPipe, the app's only validation
// pipe) and the OpenAPI description at /docs: they cannot disagree.

import {
  type ArgumentMetadata,
  Body,
  Injectable,
  type PipeTransform,
  Query,
} from '@nestjs/common';
import { ApiBody, ApiQuery } from '@nestjs/swagger';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { refusedBodyProblem } from './input-guard';
import { badRequest, invalid, type Problem } from './problem';

export type JsonSchema = Record<string, unknown>;

interface Declared {
  /** The component's name in /docs. */
  name: string;
  schema: JsonSchema;
  in: 'body' | 'query';
  /** A body that may be left out (read as `{}`). */
  optional: boolean;
  validate: ValidateFunction;
}

const DECLARED = Symbol('countersign.declaredInput');

// Bodies are JSON and taken as sent. A query string is text: `limit=5` is coerced to the
// integer its schema declares, `overridden=true` to a boolean.
const bodies = addFormats(new Ajv({ allErrors: true, strict: false, verbose: true }));
const queries = addFormats(new Ajv({ allErrors: true, strict: false, verbose: true, coerceTypes: true, useDefaults: true }));

const declared = new Map<string, JsonSchema>();

/** Every request body schema by component name, for the document's components. */
export function requestSchemas(): Record<string, JsonSchema> {
  return Object.fromEntries(declared);
}

/** The DTO class's schema: the request body it accepts. */
export function BodySchema(name: string, schema: JsonSchema, options: { optional?: boolean } = {}): ClassDecorator {
  return declare(name, schema, 'body', options.optional ?? false);
}

/** The DTO class's schema: the query parameters it accepts, each a property of `schema`. */
export function QuerySchema(name: string, schema: JsonSchema): ClassDecorator {
  return declare(name, schema, 'query', true);
}

function declare(name: string, schema: JsonSchema, where: 'body' | 'query', optional: boolean): ClassDecorator {
  return (target) => {
    if (declared.has(name)) throw new Error(`the request schema ${name} is declared twice`);
    declared.set(name, schema);
    const validate = (where === 'body' ? bodies : queries).compile(schema);
    const entry: Declared = { name, schema, in: where, optional, validate };
    Object.defineProperty(target, DECLARED, { value: entry });
  };
}

function declaration(type: unknown): Declared | undefined {
  return typeof type === 'function' ? (type as unknown as Record<symbol, Declared | undefined>)[DECLARED] : undefined;
}

/** The parameter's declared DTO class, from its TypeScript type. */
function declaredParameter(target: object, key: string | symbol | undefined, index: number, where: 'body' | 'query'): Declared {
  const types = (Reflect.getMetadata('design:paramtypes', target, key as string) ?? []) as unknown[];
  const entry = declaration(types[index]);
  if (!entry || entry.in !== where) {
    throw new Error(`${target.constructor.name}.${String(key)}: parameter ${index} must be typed with a DTO class declared by @${where === 'body' ? 'BodySchema' : 'QuerySchema'}`);
  }
  return entry;
}

const handler = (target: object, key: string | symbol | undefined) => Object.getOwnPropertyDescriptor(target, key as string)!;

/** The request body, checked against (and documented as) its DTO class's schema. */
export function ValidBody(): ParameterDecorator {
  return (target, key, index) => {
    const entry = declaredParameter(target, key, index, 'body');
    Body()(target, key, index);
    ApiBody({ required: !entry.optional, schema: { $ref: `#/components/schemas/${entry.name}` } })(target, key!, handler(target, key));
  };
}

/** The query string, checked against (and documented as) its DTO class's schema. */
export function ValidQuery(): ParameterDecorator {
  return (target, key, index) => {
    const entry = declaredParameter(target, key, index, 'query');
    Query()(target, key, index);
    const properties = (entry.schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((entry.schema.required ?? []) as string[]);
    for (const [name, schema] of Object.entries(properties)) {
      const { description, ...rest } = schema as { description?: string };
      ApiQuery({ name, required: required.has(name), description, schema: rest })(target, key!, handler(target, key));
    }
  };
}

// Problems the pipe throws: a route that keeps refused input (an answer to the gate) can tell
// them from what its handler throws.
const inputProblems = new WeakSet<Problem>();

/** The request's body or query was refused before the handler ran. */
export function isRefusedInput(err: unknown): err is Problem {
  return typeof err === 'object' && err !== null && inputProblems.has(err as Problem);
}

/** The one validation pipe: every `@ValidBody()` and `@ValidQuery()` parameter passes here. */
@Injectable()
export class SchemaValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const entry = declaration(metadata.metatype);
    if (!entry || (metadata.type !== 'body' && metadata.type !== 'query')) return value;
    try {
      return entry.in === 'body' ? checkBody(entry, value) : checkQuery(entry, value);
    } catch (err) {
      inputProblems.add(err as Problem);
      throw err;
    }
  }
}

/** Checks a body built in code (a git tag's request) exactly as the pipe checks one sent. */
export function validateBody<T>(type: new () => T, body: unknown): T {
  const entry = declaration(type);
  if (!entry || entry.in !== 'body') throw new Error(`${type.name} is not a DTO class declared by @BodySchema`);
  return checkBody(entry, body) as T;
}

function checkBody(entry: Declared, body: unknown): unknown {
  const refused = refusedBodyProblem(body);
  if (refused) throw refused;
  const empty = body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0);
  const value = empty ? {} : body;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('the request body must be a JSON object');
  if (entry.validate(value)) return value;
  const errors = [...new Set((entry.validate.errors ?? []).map((error) => describeError(error)))];
  throw invalid(errors.join('; '), { errors });
}

function checkQuery(entry: Declared, query: unknown): unknown {
  const sent = { ...(query as Record<string, unknown>) };
  const value = { ...sent };
  if (entry.validate(value)) return value;
  const errors = [...new Set((entry.validate.errors ?? []).map((error) => describeError(error, sent)))];
  throw badRequest(errors.join('; '), { errors });
}

function field(path: string): string {
  return path ? path.slice(1).replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.') : '';
}

/** One error as a sentence a person can act on; for a query parameter, with what was sent. */
function describeError(error: ErrorObject, sent?: Record<string, unknown>): string {
  const at = field(error.instancePath);
  const where = at || 'the body';
  const described = (error.parentSchema as { description?: string } | undefined)?.description;
  if (sent) {
    const got = `, got ${JSON.stringify(String(sent[at]).slice(0, 100))}`;
    if (error.keyword === 'enum') return `${at} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}${got}`;
    if (described) return `${at} must be ${described}${got}`;
  }
  switch (error.keyword) {
    case 'required':
      return `${at ? `${at}.` : ''}${(error.params as { missingProperty: string }).missingProperty} is required`;
    case 'additionalProperties':
      return `${at ? `${at}.` : ''}${(error.params as { additionalProperty: string }).additionalProperty} is not a known field; remove it`;
    case 'pattern':
      return `${where} must be ${described ?? `of the form ${(error.params as { pattern: string }).pattern}`}`;
    case 'enum':
      return `${where} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    default:
      return `${where} ${error.message ?? 'is invalid'}`;
  }
}
