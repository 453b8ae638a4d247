// The pure half of the git webhooks: who sent it (GitHub or GitLab), whether its signature
// holds, what tag push it describes, and what an annotated tag's message asks for.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { globMatches } from '../../policy/glob';

export type Provider = 'github' | 'gitlab';

export interface TagPush {
  provider: Provider;
  /** The tag's name, without `refs/tags/`. */
  tag: string;
  /** The commit the tag names, when the payload says (GitHub `head_commit.id`, GitLab `checkout_sha`). */
  commit?: string;
  /** What the ref names now: the tag object for an annotated tag, the commit for a lightweight one. */
  after?: string;
  /** Who pushed, as the payload names them. */
  pusher: { logins: string[]; emails: string[] };
  /** The annotated tag's message (GitLab only: GitHub's push event does not carry it). */
  message?: string;
  /** The project's web page (GitLab), for the request's change URL. */
  projectUrl?: string;
}

export type ParsedPush = { kind: 'tag'; push: TagPush } | { kind: 'ignored'; reason: string };

const ZERO = /^0+$/;
const OBJECT_ID = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
const objectId = (value: unknown): string | undefined => {
  const text = str(value)?.toLowerCase();
  return text && OBJECT_ID.test(text) && !ZERO.test(text) ? text : undefined;
};

// --- authentication -----------------------------------------------------------------------

/**
 * GitHub's `X-Hub-Signature-256: sha256=<hex>`: the HMAC-SHA256 of the exact bytes received,
 * keyed with the secret. Compared in constant time.
 */
export function verifyGitHubSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  const expected = createHmac('sha256', secret).update(body).digest();
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec((header ?? '').trim());
  const given = match ? Buffer.from(match[1], 'hex') : Buffer.alloc(expected.length);
  // Always compare, so a malformed header takes as long as a wrong one.
  const same = given.length === expected.length && timingSafeEqual(given, expected);
  return Boolean(match) && same;
}

/**
 * GitLab's `X-Gitlab-Token`: the secret itself. Both sides are hashed first so that the
 * constant-time comparison runs on equal lengths whatever was sent.
 */
export function verifyGitLabToken(secret: string, header: string | undefined): boolean {
  const given = createHash('sha256').update(header ?? '').digest();
  const expected = createHash('sha256').update(secret).digest();
  return timingSafeEqual(given, expected) && header !== undefined;
}

// --- payloads -----------------------------------------------------------------------------

function tagOf(ref: unknown): string | undefined {
  const text = str(ref);
  return text?.startsWith('refs/tags/') && text.length > 'refs/tags/'.length ? text.slice('refs/tags/'.length) : undefined;
}

/** A GitHub `push` event for a tag; anything else is ignored, with the reason. */
export function parseGitHubPush(event: string, payload: unknown): ParsedPush {
  if (event === 'ping') return { kind: 'ignored', reason: 'ping: the webhook reaches Countersign and its signature holds' };
  if (event !== 'push') return { kind: 'ignored', reason: `GitHub event ${JSON.stringify(event)} is not a push; only tag pushes matter` };
  if (!isObj(payload)) return { kind: 'ignored', reason: 'the payload is not a JSON object' };
  const tag = tagOf(payload.ref);
  if (!tag) return { kind: 'ignored', reason: `a push to ${str(payload.ref) ?? 'no ref'} is not a tag push; only tags matter` };
  if (payload.deleted === true || ZERO.test(str(payload.after) ?? '0')) {
    return { kind: 'ignored', reason: `tag ${tag} was deleted; a deleted tag neither approves nor requests` };
  }
  const headCommit = isObj(payload.head_commit) ? objectId(payload.head_commit.id) : undefined;
  const login = isObj(payload.sender) ? str(payload.sender.login) : undefined;
  const email = isObj(payload.pusher) ? str(payload.pusher.email) : undefined;
  return {
    kind: 'tag',
    push: {
      provider: 'github',
      tag,
      commit: headCommit,
      after: objectId(payload.after),
      pusher: pusherIdentities(login, email),
    },
  };
}

/** The pusher's identities; a placeholder such as GitLab's `[REDACTED]` is no email. */
function pusherIdentities(login?: string, email?: string): { logins: string[]; emails: string[] } {
  return { logins: login ? [login] : [], emails: email && email.indexOf('@') > 0 ? [email] : [] };
}

/** A GitLab `Tag Push Hook`; anything else is ignored, with the reason. */
export function parseGitLabPush(event: string, payload: unknown): ParsedPush {
  if (!isObj(payload)) return { kind: 'ignored', reason: 'the payload is not a JSON object' };
  if (event !== 'Tag Push Hook' && payload.object_kind !== 'tag_push') {
    return { kind: 'ignored', reason: `GitLab event ${JSON.stringify(event)} is not a tag push; only tag pushes matter` };
  }
  const tag = tagOf(payload.ref);
  if (!tag) return { kind: 'ignored', reason: `a push to ${str(payload.ref) ?? 'no ref'} is not a tag push; only tags matter` };
  const commit = objectId(payload.checkout_sha);
  if (ZERO.test(str(payload.after) ?? '0') || !commit) {
    return { kind: 'ignored', reason: `tag ${tag} was deleted; a deleted tag neither approves nor requests` };
  }
  const login = str(payload.user_username);
  // GitLab may send `[REDACTED]` instead of the address.
  const email = str(payload.user_email);
  const project = isObj(payload.project) ? str(payload.project.web_url) : undefined;
  return {
    kind: 'tag',
    push: {
      provider: 'gitlab',
      tag,
      commit,
      after: objectId(payload.after),
      pusher: pusherIdentities(login, email),
      message: typeof payload.message === 'string' ? payload.message : undefined,
      projectUrl: project && /^https?:\/\/\S+$/.test(project) ? project : undefined,
    },
  };
}

// --- tag formats --------------------------------------------------------------------------

/**
 * Does `tag` match `format` for one deployment? `{environment}`, `{service}` and `{id}` are
 * replaced by the deployment's own; `*` and `?` are globs.
 */
export function tagMatches(format: string, tag: string, values: { environment: string; service: string; id?: string }): boolean {
  const pattern = format
    .replace(/\{environment\}/g, values.environment)
    .replace(/\{service\}/g, values.service)
    .replace(/\{id\}/g, values.id ?? '{id}');
  return globMatches(pattern, tag);
}

/**
 * Matches a tag against a format whose `{environment}`, `{service}` and `{id}` are not known yet, and
 * answers what they stand for: `request/{environment}/*` and `request/production/v1.2` give
 * `{ environment: 'production' }`. Undefined when the tag does not match.
 */
export function tagFormatCaptures(format: string, tag: string): { environment?: string; service?: string; id?: string } | undefined {
  const seen = new Set<string>();
  let source = '';
  for (const piece of format.split(/(\{environment\}|\{service\}|\{id\}|\*|\?)/)) {
    if (piece === '{environment}' || piece === '{service}' || piece === '{id}') {
      const name = piece.slice(1, -1);
      source += seen.has(name) ? `\\k<${name}>` : `(?<${name}>[^/]+)`;
      seen.add(name);
    } else if (piece === '*') source += '.*';
    else if (piece === '?') source += '.';
    else source += piece.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const match = new RegExp(`^${source}$`).exec(tag);
  if (!match) return undefined;
  const groups = match.groups ?? {};
  return {
    ...(groups.environment ? { environment: groups.environment } : {}),
    ...(groups.service ? { service: groups.service } : {}),
    ...(groups.id ? { id: groups.id } : {}),
  };
}

// --- tag messages -------------------------------------------------------------------------

export interface TagMessageFields {
  artifact?: { name: string; digest: string };
  /** `Digest: sha256:…` alone, for an approval bound to the digest the approver reviewed. */
  digest?: string;
  service?: string;
  environment?: string;
  /** From `Authors:` (comma-separated), `Author:` and `Co-authored-by:` lines. */
  authors: string[];
  /** Lines that look like a field but could not be read. */
  problems: string[];
}

const DIGEST = /^sha256:[0-9a-fA-F]{64}$/;

/**
 * Reads `Key: value` lines of an annotated tag's message: `Artifact: <name>@sha256:<64 hex>`,
 * `Digest:`, `Service:`, `Environment:`, `Authors:`. Keys are case-insensitive; other lines are
 * prose and ignored.
 */
export function parseTagMessage(message: string | undefined): TagMessageFields {
  const fields: TagMessageFields = { authors: [], problems: [] };
  const single = (key: 'service' | 'environment' | 'digest', label: string, value: string) => {
    if (fields[key] !== undefined && fields[key] !== value) fields.problems.push(`${label} is given twice (${fields[key]} and ${value})`);
    else fields[key] = value;
  };
  for (const raw of (message ?? '').split(/\r?\n/)) {
    const match = /^\s*([A-Za-z][A-Za-z-]*)\s*:\s*(.*?)\s*$/.exec(raw);
    if (!match) continue;
    const [, key, value] = match;
    switch (key.toLowerCase()) {
      case 'artifact': {
        const artifact = /^(\S.*?)@(sha256:[0-9a-fA-F]{64})$/.exec(value);
        if (!artifact) {
          fields.problems.push(`Artifact must be <name>@sha256:<64 hex>, got ${JSON.stringify(value)}`);
        } else {
          const found = { name: artifact[1], digest: artifact[2].toLowerCase() };
          if (fields.artifact && (fields.artifact.name !== found.name || fields.artifact.digest !== found.digest)) {
            fields.problems.push('Artifact is given twice, with different values');
          } else fields.artifact = found;
        }
        break;
      }
      case 'digest':
        if (DIGEST.test(value)) single('digest', 'Digest', value.toLowerCase());
        else fields.problems.push(`Digest must be sha256:<64 hex>, got ${JSON.stringify(value)}`);
        break;
      case 'service':
        if (value) single('service', 'Service', value);
        break;
      case 'environment':
        if (value) single('environment', 'Environment', value);
        break;
      case 'authors':
      case 'author':
        fields.authors.push(...value.split(',').map((author) => author.trim()).filter(Boolean));
        break;
      case 'co-authored-by':
        if (value) fields.authors.push(value);
        break;
      default:
        break;
    }
  }
  if (fields.artifact && fields.digest && fields.artifact.digest !== fields.digest) {
    fields.problems.push(`Digest ${fields.digest} is not the Artifact's digest ${fields.artifact.digest}`);
  }
  fields.authors = [...new Set(fields.authors)];
  return fields;
}
