// One gate for every request's input, before any route reads it: the path, the query and the
// parsed JSON body. What passes can be stored by PostgreSQL, printed in a terminal and walked
// without recursion; what does not gets a 400 problem naming the field and what to fix.
//
// Characters refused everywhere (body, query, path):
// - NUL (U+0000) and lone UTF-16 surrogates (U+D800..U+DFFF without their pair): PostgreSQL
//   cannot store them, so an approval carrying one would be counted by the gate but never
//   written to the audit trail;
// - every other control character (U+0001..U+001F, U+007F..U+009F) except tab, line feed and
//   carriage return: they have no place in names or identities, and in free text (comments,
//   reasons, summaries) they can rewrite what an auditor's terminal shows.
// Webhook payloads come from git hosts and are signed as sent: only what cannot be stored is
// refused there.
//
// Shape: JSON nested deeper than MAX_DEPTH, or with more than MAX_NODES values, is refused
// before a validator or a serializer recurses into it.

import type { NextFunction, Request, Response } from 'express';
import { badRequest, type Problem, sendProblem } from './problem';

export const MAX_DEPTH = 32;
export const MAX_NODES = 10_000;
/** Git hosts' push payloads are large (commits, files, repository metadata), though shallow. */
export const MAX_WEBHOOK_NODES = 200_000;

const UNWRITABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type CharacterRule = 'strict' | 'storable';

const hex = (code: number) => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with `text` under `rule`, as words ("a NUL character (U+0000)"), or undefined. */
export function badCharacter(text: string, rule: CharacterRule = 'strict'): string | undefined {
  const match = (rule === 'strict' ? CONTROL : UNWRITABLE).exec(text);
  if (!match) return undefined;
  const code = match[0].charCodeAt(0);
  if (code === 0) return 'a NUL character (U+0000)';
  if (code >= 0xd800 && code <= 0xdfff) return `a lone surrogate (${hex(code)}), which is not valid Unicode text`;
  return `a control character (${hex(code)})`;
}

const characterHint = (rule: CharacterRule) =>
  rule === 'strict' ? 'remove it (text may hold tabs and line breaks, but no other control characters)' : 'remove it';

/** `change.authors[2]`-style names for a place in a JSON value. */
function child(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  if (/^[A-Za-z_$][\w$-]*$/.test(shown)) return parent ? `${parent}.${shown}` : shown;
  return `${parent}[${JSON.stringify(shown)}]`;
}

/**
 * Walks a parsed JSON value iteratively (an explicit stack: no depth can overflow the call
 * stack) and returns the first problem, or undefined when the value may be used.
 */
export function inspectJson(
  value: unknown,
  options: { root?: string; rule?: CharacterRule; maxDepth?: number; maxNodes?: number } = {},
): Problem | undefined {
  const root = options.root ?? '';
  const rule = options.rule ?? 'strict';
  const maxDepth = options.maxDepth ?? MAX_DEPTH;
  const maxNodes = options.maxNodes ?? MAX_NODES;
  const name = (at: string) => at || 'the body';
  const stack: Array<{ value: unknown; at: string; depth: number }> = [{ value, at: root, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { value: current, at, depth } = stack.pop()!;
    nodes += 1;
    if (nodes > maxNodes) {
      return badRequest(`the body holds more than ${maxNodes} values; send less`, { limit: maxNodes });
    }
    if (typeof current === 'string') {
      const bad = badCharacter(current, rule);
      if (bad) return badRequest(`${name(at)} contains ${bad}; ${characterHint(rule)}`, { field: at || null });
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= maxDepth) {
      return badRequest(`${name(at)} nests deeper than ${maxDepth} levels; send a flatter value`, { field: at || null, limit: maxDepth });
    }
    if (Array.isArray(current)) {
      for (let index = current.length - 1; index >= 0; index -= 1) {
        stack.push({ value: current[index], at: child(at, index), depth: depth + 1 });
      }
      continue;
    }
    const keys = Object.keys(current);
    for (let index = keys.length - 1; index >= 0; index -= 1) {
      const key = keys[index];
      const badKey = badCharacter(key, rule);
      if (badKey) {
        return badRequest(`${at ? `${at} has a key that` : 'a key of the body'} contains ${badKey}; ${characterHint(rule)}`, { field: at || null });
      }
      stack.push({ value: (current as Record<string, unknown>)[key], at: child(at, key), depth: depth + 1 });
    }
  }
  return undefined;
}

/** Every query parameter once, as text: a repeated (`?a=1&a=2`) one is refused by name. */
export function inspectQuery(query: Record<string, unknown>): Problem | undefined {
  for (const [key, value] of Object.entries(query)) {
    const shown = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
    const badKey = badCharacter(key);
    if (badKey) return badRequest(`the query parameter name ${shown} contains ${badKey}; ${characterHint('strict')}`);
    if (typeof value !== 'string') {
      return badRequest(`the query parameter ${shown} must be given once, as plain text; send ?${key}=<value> one time`, { parameter: key });
    }
    const bad = badCharacter(value);
    if (bad) return badRequest(`the query parameter ${shown} contains ${bad}; ${characterHint('strict')}`, { parameter: key });
  }
  return undefined;
}

/** Each path segment must decode (valid percent-encoding of UTF-8) to acceptable text. */
export function inspectPath(rawPath: string): Problem | undefined {
  for (const segment of rawPath.split('/')) {
    if (!segment.includes('%') && !CONTROL.test(segment)) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return badRequest(`the path segment ${JSON.stringify(segment.slice(0, 64))} is not valid percent-encoded UTF-8; encode each byte of the UTF-8 text as %XX`);
    }
    const bad = badCharacter(decoded);
    if (bad) return badRequest(`the path segment ${JSON.stringify(segment.slice(0, 64))} contains ${bad}; ${characterHint('strict')}`);
  }
  return undefined;
}

const REFUSED = Symbol('countersign.refusedBody');

/** A body the guard refused, handed on to a route that records refused attempts. */
export interface RefusedBody {
  [REFUSED]: Problem;
}

export function refusedBodyProblem(body: unknown): Problem | undefined {
  return typeof body === 'object' && body !== null && REFUSED in body ? (body as RefusedBody)[REFUSED] : undefined;
}

// An answer to the gate that is refused is kept in the audit trail, attributed to whoever sent
// it: those routes get the refusal as their body and throw it after authentication.
const ANSWER_ROUTE = /^\/v1\/deployments\/[^/]+\/(approvals|rejections|cancel|override|review)\/?$/;
const WEBHOOK_ROUTE = /^\/v1\/webhooks\//;
// The approver page's forms answer with a page of their own (api/ui), not a problem document.
const UI_FORM = /^\/ui\//;

/** Express middleware; install right after the JSON body parser. */
export function inputGuard() {
  return (req: Request, res: Response, next: NextFunction) => {
    const rawPath = req.originalUrl.split('?')[0];
    const early = inspectPath(rawPath) ?? inspectQuery(req.query as Record<string, unknown>);
    if (early) return sendProblem(res, early, instanceOf(req));
    if (req.body !== undefined) {
      const webhook = WEBHOOK_ROUTE.test(rawPath);
      const problem = inspectJson(req.body, webhook ? { rule: 'storable', maxNodes: MAX_WEBHOOK_NODES } : {});
      if (problem) {
        if (req.method === 'POST' && (ANSWER_ROUTE.test(rawPath) || UI_FORM.test(rawPath))) {
          req.body = { [REFUSED]: problem } satisfies RefusedBody;
        } else {
          return sendProblem(res, problem, instanceOf(req));
        }
      }
    }
    next();
  };
}

/** The problem's `instance`: the path as sent (percent-encoded, so plain ASCII). */
function instanceOf(req: Request): string | undefined {
  return req.originalUrl.length <= 2048 ? req.originalUrl : undefined;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;
const EARLIEST = Date.UTC(1, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A time given as a query parameter: ISO 8601 (`2026-01-31` or `2026-01-31T00:00:00Z`), from
 * year 1 to 9999 (what JavaScript, PostgreSQL and ISO 8601's four-digit years all hold).
 */
export function instantParameter(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const example = 'such as 2026-01-31T00:00:00Z';
  if (!ISO_INSTANT.test(value)) throw badRequest(`${name} must be an ISO 8601 time ${example}, got ${JSON.stringify(value.slice(0, 100))}`, { parameter: name });
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw badRequest(`${name} is not a real date and time: ${JSON.stringify(value)}; send one ${example}`, { parameter: name });
  if (time < EARLIEST || time > LATEST) throw badRequest(`${name} must be between the years 1 and 9999, got ${JSON.stringify(value)}`, { parameter: name });
  return new Date(time);
}
