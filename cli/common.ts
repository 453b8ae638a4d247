// What every `countersign` command shares: exit codes, the world a command runs in (output,
// environment, fetch, git), argument parsing, and talking to a server.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

export const EXIT = {
  /** The evidence is valid; the audit chain is intact; the command did what it says. */
  OK: 0,
  /** The evidence is invalid, or the audit chain is broken. */
  INVALID: 1,
  /** Bad arguments, a missing setting, or a file that cannot be read. */
  USAGE: 2,
  /** The server could not be reached, or refused the request (401, 403, 5xx…). */
  SERVER: 3,
  /** `--timeout` passed while following a request; the request stays pending. */
  TIMEOUT: 4,
} as const;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  /** Where relative file names are resolved, and git runs. */
  cwd: string;
  /** Whether stdout is a terminal (a live status line) or not (CI: plain lines). */
  isTTY: boolean;
  /** The terminal's width, so the status line stays on one row. */
  columns?: number;
}

export interface Command {
  /** One line, for `countersign --help`. */
  summary: string;
  /** The synopsis and options, for `countersign COMMAND --help`. */
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
}

/** A failure that ends the command with `exit` and `message` on stderr. */
export class CliError extends Error {
  constructor(readonly exit: number, message: string) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(EXIT.USAGE, message);

export function parse(
  args: string[],
  options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>,
  usage: string,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (err) {
    throw usageError(`${(err as Error).message}\n\n${usage}`);
  }
}

export function readText(io: CliIo, file: string, what: string): string {
  try {
    return readFileSync(path.resolve(io.cwd, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw usageError(`cannot read ${what} ${file}: ${why}`);
  }
}

// --- talking to a server ------------------------------------------------------------------

export function serverUrl(io: CliIo, forWhat: string): string {
  const url = io.env.COUNTERSIGN_URL?.trim();
  if (!url) throw usageError(`set COUNTERSIGN_URL to the Countersign server (e.g. http://127.0.0.1:3000) ${forWhat}`);
  if (!/^https?:\/\//i.test(url)) throw usageError(`COUNTERSIGN_URL must start with http:// or https://, got ${JSON.stringify(url)}`);
  return url.replace(/\/+$/, '');
}

export async function getJson(io: CliIo, url: string, token?: string, method: 'GET' | 'POST' = 'GET'): Promise<any> {
  let response: Response;
  try {
    response = await io.fetch(url, {
      method,
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(EXIT.SERVER, `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await response.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const detail = typeof body?.detail === 'string' ? body.detail : text.slice(0, 200) || response.statusText;
    const hint = response.status === 401
      ? ' (set COUNTERSIGN_TOKEN to a valid token)'
      : response.status === 403 ? ' (COUNTERSIGN_TOKEN\'s principal lacks the role this needs)' : '';
    throw new CliError(EXIT.SERVER, `${url} answered ${response.status}: ${detail}${hint}`);
  }
  if (body === undefined) throw new CliError(EXIT.SERVER, `${url} did not answer JSON; is COUNTERSIGN_URL a Countersign server?`);
  return body;
}


// --- the bearer token ---------------------------------------------------------------------------

/** Where the bearer token comes from; `get` is called before each request (a CI token may be renewed). */
export interface TokenSource {
  /** For messages: which setting provided it (never the token itself). */
  origin: string;
  get(): Promise<string>;
}

// --- a server's answers ---------------------------------------------------------------------------

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** The server refused: `status` and its problem document, for callers that tell refusals apart. */
export class ServerRefusal extends CliError {
  constructor(message: string, readonly status: number, readonly problem: any) {
    super(EXIT.SERVER, message);
  }
}

export function unreachable(url: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return new CliError(EXIT.SERVER, `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
}

/** A server of the API, with the caller's token. Refusals become `ServerRefusal` (exit 3). */
export class Server {
  constructor(
    private readonly io: CliIo,
    readonly base: string,
    readonly token: TokenSource,
  ) {}

  async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
    const url = `${this.base}${path}`;
    const token = await this.token.get();
    let response: Response;
    try {
      response = await this.io.fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw unreachable(url, err);
    }
    const text = await response.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw refusal(method, url, response.status, parsed, text, this.token.origin);
    if (parsed === undefined) throw new CliError(EXIT.SERVER, `${url} did not answer JSON; is COUNTERSIGN_URL a Countersign server?`);
    return { status: response.status, body: parsed, headers: response.headers };
  }
}

export function refusal(method: string, url: string, status: number, problem: any, text: string, origin: string): ServerRefusal {
  const detail = typeof problem?.detail === 'string' ? problem.detail : text.slice(0, 200) || `HTTP ${status}`;
  const hint = status === 401
    ? ` (the token from ${origin} was refused: check it, and for a CI token that auth.oidc trusts its issuer and audience)`
    : status === 403 && !problem?.reason ? ` (the principal of ${origin} lacks the role this needs)` : '';
  return new ServerRefusal(`${method} ${url} answered ${status}: ${detail}${hint}`, status, problem);
}
