// The commands for people at a terminal: `status ID`, `list [--waiting-for-me]`,
// `approve ID --digest D [--comment C]`, `reject ID --comment C`.

import type { DeploymentView } from '../policy/types';
import { type CliIo, CliError, type Command, EXIT, parse, Server, ServerRefusal, serverUrl, usageError } from './common';
import { tokenSource } from './identity';
import { approverLink, listLine, printable, statusLines, stillNeeds, verdictLine } from './lines';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

function connect(io: CliIo, forWhat: string): Server {
  return new Server(io, serverUrl(io, forWhat), tokenSource(io));
}

const say = (io: CliIo, line: string) => io.stdout(`${printable(line)}\n`);
const link = (io: CliIo, server: Server, id: string) => approverLink(io.env.COUNTERSIGN_PUBLIC_URL?.trim() || server.base, id);

/** Exactly one ID, that can be a path segment. */
function oneId(positionals: string[], usage: string): string {
  if (positionals.length !== 1) throw usageError(`${positionals.length === 0 ? 'name the deployment ID' : `one deployment ID only, got ${positionals.join(' ')}`}\n\n${usage}`);
  const id = positionals[0].trim();
  if (!id || id.length > 200 || /[\u0000-\u001f\u007f/?#]/.test(id)) throw usageError(`${JSON.stringify(positionals[0])} is not a deployment id\n\n${usage}`);
  return id;
}

function helped(values: Record<string, unknown>, io: CliIo, usage: string): boolean {
  if (values.help) io.stdout(`${usage}\n`);
  return values.help === true;
}

// --- status ----------------------------------------------------------------------------------

const STATUS_USAGE = `usage: countersign status ID [--json]

  Prints one deployment: status, tier, approvals, what it still needs, the decision and the
  deploy, and the approvers' link. --json prints the deployment as the API answers it.`;

export const statusCommand: Command = {
  summary: 'show one deployment: status, approvals, what it still needs',
  usage: STATUS_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, { json: { type: 'boolean' } }, STATUS_USAGE);
    if (helped(values, io, STATUS_USAGE)) return EXIT.OK;
    const id = oneId(positionals, STATUS_USAGE);
    const server = connect(io, 'to read the deployment');
    const { body } = await server.call('GET', `/v1/deployments/${encodeURIComponent(id)}`);
    if (values.json) io.stdout(`${JSON.stringify(body, null, 2)}\n`);
    else for (const line of statusLines(body as DeploymentView, link(io, server, id))) say(io, line);
    return EXIT.OK;
  },
};

// --- list ------------------------------------------------------------------------------------

const LIST_USAGE = `usage: countersign list [--waiting-for-me] [--service S] [--environment E] [--status STATUS] [--limit N] [--json]

  Lists deployments, newest first. --waiting-for-me: only the PENDING ones you may approve now
  (you are an eligible approver, not an author or the requester, and have not approved yet).`;

export const listCommand: Command = {
  summary: 'list deployments; --waiting-for-me: the ones you may approve now',
  usage: LIST_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, {
      'waiting-for-me': { type: 'boolean' },
      service: { type: 'string' },
      environment: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    }, LIST_USAGE);
    if (helped(values, io, LIST_USAGE)) return EXIT.OK;
    if (positionals.length) throw usageError(`list takes no positional arguments\n\n${LIST_USAGE}`);
    const query = new URLSearchParams();
    if (values['waiting-for-me']) {
      if (values.status !== undefined) throw usageError(`--waiting-for-me lists PENDING deployments only; drop --status\n\n${LIST_USAGE}`);
      query.set('waitingFor', 'me');
    }
    for (const name of ['service', 'environment', 'status'] as const) if (typeof values[name] === 'string') query.set(name, values[name] as string);
    if (values.limit !== undefined) {
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw usageError(`--limit must be a whole number from 1 to 200, got ${JSON.stringify(values.limit)}`);
      query.set('limit', String(limit));
    }
    const server = connect(io, 'to list deployments');
    const { body } = await server.call('GET', `/v1/deployments${query.size ? `?${query}` : ''}`);
    const deployments = (body.deployments ?? []) as DeploymentView[];
    if (values.json) {
      io.stdout(`${JSON.stringify(body, null, 2)}\n`);
      return EXIT.OK;
    }
    if (deployments.length === 0) {
      say(io, values['waiting-for-me'] ? 'nothing is waiting for you' : 'no deployments');
      return EXIT.OK;
    }
    for (const view of deployments) say(io, listLine(view));
    if (body.next) say(io, `more: --limit, or GET /v1/deployments?${query.size ? `${query}&` : ''}before=${body.next}`);
    return EXIT.OK;
  },
};

// --- approve and reject ----------------------------------------------------------------------------

/** A refusal by the gate (it has a `reason`) is the gate saying no: exit 1; others stay 3. */
function gateRefusal(err: unknown): never {
  if (err instanceof ServerRefusal && typeof err.problem?.reason === 'string' && err.status !== 429) {
    throw new CliError(EXIT.INVALID, `refused (${err.problem.reason}): ${err.problem.detail ?? ''}`);
  }
  throw err;
}

const APPROVE_USAGE = `usage: countersign approve ID --digest sha256:HEX [--comment TEXT]

  Approves deployment ID for exactly the artifact digest you reviewed. Exit 1 when the gate
  refuses (you are an author or the requester, not eligible, the digest differs, it is no longer
  PENDING, you already approved), with its reason.`;

export const approveCommand: Command = {
  summary: 'approve a deployment for the digest you reviewed (approver)',
  usage: APPROVE_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, { digest: { type: 'string' }, comment: { type: 'string' } }, APPROVE_USAGE);
    if (helped(values, io, APPROVE_USAGE)) return EXIT.OK;
    const id = oneId(positionals, APPROVE_USAGE);
    if (typeof values.digest !== 'string') throw usageError(`--digest is required: the digest of the artifact you reviewed\n\n${APPROVE_USAGE}`);
    const digest = values.digest.trim().toLowerCase();
    if (!DIGEST.test(digest)) throw usageError(`--digest must be sha256: and 64 hex characters, got ${JSON.stringify(values.digest)}`);
    const server = connect(io, 'to approve');
    const body = { digest, ...(typeof values.comment === 'string' ? { comment: values.comment } : {}) };
    const { body: view } = await server.call('POST', `/v1/deployments/${encodeURIComponent(id)}/approvals`, body).catch(gateRefusal);
    const d = view as DeploymentView;
    const needs = d.status === 'PENDING' ? stillNeeds(d) : '';
    say(io, `approved deployment ${d.id}: ${d.status}${needs ? `, ${needs}` : ''}`);
    return EXIT.OK;
  },
};

const REJECT_USAGE = `usage: countersign reject ID --comment TEXT

  Rejects deployment ID: one eligible rejection ends it as REJECTED and nothing is deployed.
  --comment says why (required: the pipeline prints it).`;

export const rejectCommand: Command = {
  summary: 'reject a deployment, with the reason (approver)',
  usage: REJECT_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, { comment: { type: 'string' } }, REJECT_USAGE);
    if (helped(values, io, REJECT_USAGE)) return EXIT.OK;
    const id = oneId(positionals, REJECT_USAGE);
    if (typeof values.comment !== 'string' || !values.comment.trim()) throw usageError(`--comment is required: say why it is rejected\n\n${REJECT_USAGE}`);
    const server = connect(io, 'to reject');
    const { body: view } = await server.call('POST', `/v1/deployments/${encodeURIComponent(id)}/rejections`, { comment: values.comment }).catch(gateRefusal);
    say(io, `rejected deployment ${(view as DeploymentView).id}: ${verdictLine(view as DeploymentView)}`);
    return EXIT.OK;
  },
};
