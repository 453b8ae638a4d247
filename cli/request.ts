// `countersign request`: a pipeline asks for a deployment, prints its id, its tier, what it needs
// and the approvers' link, and with --wait follows the gate to the verdict (follow.ts).

import { appendFileSync } from 'node:fs';
import { parseDuration } from '../policy/duration';
import type { DeploymentView } from '../policy/types';
import { type CliIo, CliError, type Command, EXIT, parse, Server, ServerRefusal, serverUrl, usageError } from './common';
import { follow, FollowEnd, type Until } from './follow';
import { changeFromGit, type GitRun, gitIn } from './git-range';
import { tokenSource } from './identity';
import { approverLink, oneLine, printable, requestedLines } from './lines';

export const REQUEST_USAGE = `usage: countersign request --service S --environment E --artifact NAME --digest sha256:HEX
                           [--commit SHA] [--author ID]... [--summary TEXT] [--url URL]
                           [--requested-by ID] [--minimum-tier TIER] [--request-id KEY]
                           [--from-git] [--wait] [--timeout DURATION] [--until approved|deployed]

Asks the Countersign server for a deployment; prints its id, its tier, what it needs and the
approvers' link. The tier comes from the server's policy, never from the request.

  --service, --environment   what is deployed where, as the policy names them
  --artifact NAME            e.g. registry.example.com/web:1.4.2
  --digest sha256:HEX        the artifact's digest: the only thing approvals can deploy
  --commit SHA               the full commit id (40 or 64 hex)
  --author ID                an author: email, login, "Name <email>" or a Co-authored-by line;
                             repeat for each. None of them may approve.
  --summary TEXT, --url URL  what the change is, and where to read it
  --requested-by ID          who triggered the pipeline (may not approve either); default
                             $GITHUB_TRIGGERING_ACTOR / $GITHUB_ACTOR, or $GITLAB_USER_EMAIL
  --minimum-tier TIER        ask for a stricter tier than the policy gives (never a laxer one)
  --request-id KEY           idempotency key: a rerun with the same key follows the same request
  --from-git                 commit = HEAD, summary = its subject, authors = the author and every
                             Co-authored-by of every commit since the commit last deployed to this
                             service and environment (asked of the server); the range is printed
  --wait                     follow the gate until the verdict, printing each change
  --timeout DURATION         with --wait: give up after 30s, 15m, 2h, 1d (exit 4; the request
                             stays pending)
  --until approved|deployed  with --wait: the state that ends the wait with 0 (default deployed)

environment: COUNTERSIGN_URL (the server); COUNTERSIGN_TOKEN, or a CI identity token: GitHub
Actions (permissions: id-token: write; audience COUNTERSIGN_AUDIENCE, default countersign) or
GitLab (id_tokens: COUNTERSIGN_ID_TOKEN); COUNTERSIGN_PUBLIC_URL, the base of the approvers'
link (default COUNTERSIGN_URL). In GitHub Actions, deployment-id and status are also written
to $GITHUB_OUTPUT, and with --wait the verdict to the job summary ($GITHUB_STEP_SUMMARY).

exit codes: 0 requested (with --wait: DEPLOYED, or APPROVED with --until approved);
1 the gate said no (REJECTED, EXPIRED, CANCELLED, FAILED; the reason is printed last);
2 usage; 3 the server is unreachable or refused; 4 --timeout passed (the request stays pending).`;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export interface RequestArgs {
  service: string;
  environment: string;
  artifact: string;
  digest: string;
  commit?: string;
  authors: string[];
  summary?: string;
  url?: string;
  requestedBy?: string;
  minimumTier?: string;
  requestId?: string;
  fromGit: boolean;
  wait: boolean;
  timeoutMs?: number;
  /** --timeout as written, for messages. */
  timeoutText?: string;
  until: Until;
  help: boolean;
}

const OPTIONS = {
  service: { type: 'string' },
  environment: { type: 'string' },
  artifact: { type: 'string' },
  digest: { type: 'string' },
  commit: { type: 'string' },
  author: { type: 'string', multiple: true },
  summary: { type: 'string' },
  url: { type: 'string' },
  'requested-by': { type: 'string' },
  'minimum-tier': { type: 'string' },
  'request-id': { type: 'string' },
  'from-git': { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  until: { type: 'string' },
} as const;

const SYNOPSIS = `${REQUEST_USAGE.split('\n\n')[0]}\n\n\`countersign request --help\` explains every flag.`;
const usage = (message: string) => usageError(`${message}\n\n${SYNOPSIS}`);

/** The flags, checked: every mistake a usage error (exit 2) that says what to write instead. */
export function parseRequestArgs(args: string[], env: Record<string, string | undefined> = {}): RequestArgs {
  const { values, positionals } = parse(args, OPTIONS as never, SYNOPSIS);
  const text = (name: string): string | undefined => {
    const value = values[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw usage(`--${name} takes a value`);
    if (value.trim() === '') throw usage(`--${name} is empty`);
    if (CONTROL.test(value)) throw usage(`--${name} contains a control character`);
    return value.trim();
  };
  const help = values.help === true;
  if (help) return { help, authors: [], fromGit: false, wait: false, until: 'deployed', service: '', environment: '', artifact: '', digest: '' };
  if (positionals.length) throw usage(`request takes no positional arguments, got ${JSON.stringify(positionals.join(' '))}`);

  const missing = ['service', 'environment', 'artifact', 'digest'].filter((name) => values[name] === undefined);
  if (missing.length) throw usage(`missing ${missing.map((name) => `--${name}`).join(', ')}`);
  const digest = text('digest')!.toLowerCase();
  if (!DIGEST.test(digest)) throw usage(`--digest must be sha256: and 64 hex characters, got ${JSON.stringify(values.digest)}`);
  const fromGit = values['from-git'] === true;
  const commit = text('commit')?.toLowerCase();
  if (commit !== undefined && !COMMIT.test(commit)) throw usage(`--commit must be the full commit id (40 or 64 hex characters), got ${JSON.stringify(values.commit)}`);
  if (commit !== undefined && fromGit) throw usage('--commit and --from-git both name the commit: --from-git takes HEAD; drop one');
  if (commit === undefined && !fromGit) throw usage('name the change: --commit SHA with --author ID, or --from-git');
  // One --author may hold a block of Co-authored-by lines: each line is an author.
  const authors = ((values.author as string[] | undefined) ?? []).flatMap((author) => author.split(/\r?\n/)).map((author) => {
    if (CONTROL.test(author.replace(/\t/g, ' '))) throw usage('--author contains a control character');
    return author.trim();
  }).filter(Boolean);
  if (!fromGit && authors.length === 0) throw usage('name at least one --author (or use --from-git): the authors of a change may not approve it');
  const wait = values.wait === true;
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    if (!wait) throw usage('--timeout needs --wait');
    timeoutMs = parseDuration(String(values.timeout));
    if (timeoutMs === undefined) throw usage(`--timeout must be a duration such as 30s, 15m, 2h or 1d, got ${JSON.stringify(values.timeout)}`);
  }
  let until: Until = 'deployed';
  if (values.until !== undefined) {
    if (!wait) throw usage('--until needs --wait');
    const value = String(values.until).toLowerCase();
    if (value !== 'approved' && value !== 'deployed') throw usage(`--until must be approved or deployed, got ${JSON.stringify(values.until)}`);
    until = value;
  }
  const url = text('url');
  if (url !== undefined && !/^https?:\/\/\S+$/i.test(url)) throw usage(`--url must be an http(s) URL, got ${JSON.stringify(url)}`);
  const requestedBy = text('requested-by') ?? (env.GITHUB_TRIGGERING_ACTOR || env.GITHUB_ACTOR || env.GITLAB_USER_EMAIL || undefined);
  return {
    help,
    service: text('service')!,
    environment: text('environment')!,
    artifact: text('artifact')!,
    digest,
    commit,
    authors,
    summary: text('summary'),
    url,
    requestedBy: requestedBy && !CONTROL.test(requestedBy) ? requestedBy.trim() : undefined,
    minimumTier: text('minimum-tier'),
    requestId: text('request-id'),
    fromGit,
    wait,
    timeoutMs,
    timeoutText: timeoutMs === undefined ? undefined : String(values.timeout).trim(),
    until,
  };
}

/** The commit's page on the git host, from the CI's own variables, when --url is not given. */
function commitUrl(env: Record<string, string | undefined>, commit: string): string | undefined {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY) return `${env.GITHUB_SERVER_URL.replace(/\/+$/, '')}/${env.GITHUB_REPOSITORY}/commit/${commit}`;
  if (env.CI_PROJECT_URL) return `${env.CI_PROJECT_URL.replace(/\/+$/, '')}/-/commit/${commit}`;
  return undefined;
}

/** The commit of the newest DEPLOYED deployment of this service and environment that this principal can see. */
async function lastDeployedCommit(server: Server, service: string, environment: string): Promise<string | undefined> {
  const query = new URLSearchParams({ service, environment, status: 'DEPLOYED', limit: '1' });
  const { body } = await server.call('GET', `/v1/deployments?${query}`);
  const commit = body?.deployments?.[0]?.change?.commit;
  return typeof commit === 'string' ? commit : undefined;
}

/** In GitHub Actions, the step's outputs (`deployment-id`, `status`), and at the end a line in the job's summary. */
function writeGithubOutput(io: CliIo, view: DeploymentView, link?: string): void {
  const write = (variable: 'GITHUB_OUTPUT' | 'GITHUB_STEP_SUMMARY', text: string) => {
    const file = io.env[variable];
    if (!file) return;
    try {
      appendFileSync(file, text);
    } catch (err) {
      io.stderr(`countersign request: could not write $${variable} (${(err as Error).message})\n`);
    }
  };
  write('GITHUB_OUTPUT', `deployment-id=${view.id}\nstatus=${view.status}\n`);
  if (link) {
    const why = view.decision?.reason ? `: ${oneLine(view.decision.reason).replace(/[[\]<>|*_`]/g, ' ')}` : '';
    write('GITHUB_STEP_SUMMARY', `Countersign: deployment [${view.id}](${link}) of ${view.service} to ${view.environment} is **${view.status}**${why}\n`);
  }
}

/**
 * POST /v1/deployments. With a request id, a retry is safe (it answers the same deployment), so
 * an unavailable server (503 and the like, or no answer) is asked again a few times first.
 */
async function postRequest(io: CliIo, server: Server, body: unknown, retryable: boolean) {
  const delays = retryable ? [1_000, 3_000, 7_000] : [];
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await server.call('POST', '/v1/deployments', body);
    } catch (err) {
      const transient = err instanceof ServerRefusal ? [502, 503, 504].includes(err.status) : err instanceof CliError && err.exit === EXIT.SERVER;
      if (!transient || attempt >= delays.length) throw err;
      io.stderr(`countersign request: ${(err as Error).message}; asking again with the same --request-id in ${delays[attempt] / 1000} s\n`);
      await new Promise((resolve) => setTimeout(resolve, delays[attempt]));
    }
  }
}

export async function runRequest(args: string[], io: CliIo, git: GitRun = gitIn(io.cwd)): Promise<number> {
  const parsed = parseRequestArgs(args, io.env);
  if (parsed.help) {
    io.stdout(`${REQUEST_USAGE}\n`);
    return EXIT.OK;
  }
  const base = serverUrl(io, 'to request a deployment');
  const server = new Server(io, base, tokenSource(io));
  const say = (line: string) => io.stdout(`${printable(line)}\n`);

  let commit = parsed.commit;
  let summary = parsed.summary;
  let authors = parsed.authors;
  if (parsed.fromGit) {
    const last = await lastDeployedCommit(server, parsed.service, parsed.environment);
    const change = await changeFromGit(git, last);
    commit = change.commit;
    summary ??= change.summary || undefined;
    authors = [...new Set([...authors, ...change.authors])];
    say(`from git: commit ${change.commit}, range ${change.range} (${change.commits.length} commit${change.commits.length === 1 ? '' : 's'}): ${change.reason}`);
    say(`  authors ${change.authors.join(', ')}`);
    if (authors.length > 100) {
      throw usageError(`the change names ${authors.length} authors, more than one request may carry (100); name them with --author from a shorter range`);
    }
  }
  const url = parsed.url ?? (parsed.fromGit ? commitUrl(io.env, commit!) : undefined);
  const body = {
    service: parsed.service,
    environment: parsed.environment,
    artifact: { name: parsed.artifact, digest: parsed.digest },
    change: {
      commit: commit!,
      authors,
      ...(parsed.requestedBy ? { requestedBy: parsed.requestedBy } : {}),
      ...(summary ? { summary } : {}),
      ...(url ? { url } : {}),
    },
    ...(parsed.requestId ? { requestId: parsed.requestId } : {}),
    ...(parsed.minimumTier ? { minimumTier: parsed.minimumTier } : {}),
  };
  const answer = await postRequest(io, server, body, parsed.requestId !== undefined);
  const view = answer.body as DeploymentView;
  const link = approverLink(io.env.COUNTERSIGN_PUBLIC_URL?.trim() || base, view.id);
  for (const line of requestedLines(view, link, answer.status === 201)) say(line);
  writeGithubOutput(io, view);
  if (!parsed.wait) return EXIT.OK;

  say(`waiting until ${parsed.until === 'approved' ? 'APPROVED' : 'DEPLOYED'}${parsed.timeoutText ? ` (at most ${parsed.timeoutText})` : ''}…`);
  try {
    const final = await follow(io, server, view, { until: parsed.until, timeoutMs: parsed.timeoutMs });
    writeGithubOutput(io, final, link);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof FollowEnd) writeGithubOutput(io, err.view, link);
    throw err;
  }
}

export const requestCommand: Command = {
  summary: 'request a deployment (pipeline); with --wait, follow the gate and exit with its verdict',
  usage: REQUEST_USAGE,
  run: (args, io) => runRequest(args, io),
};
