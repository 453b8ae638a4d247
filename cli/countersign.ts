// `countersign`: the command line. This file is the dispatcher and the commands about evidence
// and the audit trail; the pipeline's and the approvers' commands live beside it (request.ts,
// people.ts), sharing common.ts. `main` takes its arguments and its world (output, environment,
// fetch) as parameters, so tests run it in-process; bin/countersign.js runs it for real.

import { keyIdOf, readPublicKey } from '../evidence/keys';
import { type EvidenceVerdict, normalizeDigest, verifyEvidence } from '../evidence/verify';
import { type CliIo, CliError, type Command, EXIT, getJson, parse, readText, serverUrl, usageError } from './common';
import { approveCommand, listCommand, rejectCommand, statusCommand } from './people';
import { requestCommand } from './request';

export { type CliIo, CliError, type Command, EXIT } from './common';

// --- talking to a server ------------------------------------------------------------------

interface PublishedKey {
  keyid: string;
  algorithm: string;
  publicKeyPem: string;
}

async function serverKeys(io: CliIo, forWhat: string): Promise<{ url: string; keys: PublishedKey[] }> {
  const url = `${serverUrl(io, forWhat)}/v1/keys`;
  const body = await getJson(io, url);
  const keys = Array.isArray(body?.keys)
    ? (body.keys as PublishedKey[]).filter((key) => typeof key?.publicKeyPem === 'string')
    : [];
  if (keys.length === 0) throw new CliError(EXIT.SERVER, `${url} publishes no evidence key`);
  return { url, keys };
}

// --- verify ---------------------------------------------------------------------------------

const VERIFY_USAGE = `usage: countersign verify FILE [--key KEY] [--digest sha256:HEX]

  FILE      evidence saved from GET /v1/deployments/{id}/evidence
  --key     the server's public key (PEM), e.g. saved with \`countersign keys > key.pem\`;
            without it the key is fetched from $COUNTERSIGN_URL/v1/keys
  --digest  the artifact you are about to trust: the evidence must be for this digest`;

function signedKeyIds(envelope: unknown): string[] {
  const signatures = (envelope as { signatures?: Array<{ keyid?: unknown }> })?.signatures;
  return Array.isArray(signatures) ? signatures.map((s) => s?.keyid).filter((id): id is string => typeof id === 'string') : [];
}

function summary(verdict: EvidenceVerdict): string[] {
  const p = verdict.statement!.predicate;
  const subject = verdict.statement!.subject[0];
  const approvers = p.approvals.length
    ? p.approvals.map((a) => `${a.approver} (${a.at})`).join(', ')
    : 'none';
  const lines = [
    `evidence valid: signed by ${verdict.keyid}`,
    `  deployment   ${p.deployment.id} (${p.deployment.status})`,
    `  service      ${p.request.service} → ${p.request.environment}`,
    `  artifact     ${subject.name}`,
    `  digest       sha256:${subject.digest.sha256}`,
    `  rule         tier ${p.rule.tier}: ${p.rule.approvals} approval${p.rule.approvals === 1 ? '' : 's'}` +
      (p.rule.requiredGroups.length ? `, including ${p.rule.requiredGroups.join(', ')}` : '') +
      (p.rule.eligibleGroups.length ? `, from ${p.rule.eligibleGroups.join(', ')}` : ''),
    `  requested by ${p.request.requestedBy} at ${p.request.requestedAt}`,
    `  approvers    ${approvers}`,
    `  refused      ${p.refused.length} attempt${p.refused.length === 1 ? '' : 's'}`,
    `  decision     ${p.decision ? `${p.decision.status} at ${p.decision.at}: ${p.decision.reason}` : `none yet (${p.deployment.status})`}`,
  ];
  if (p.deploy) lines.push(`  deploy       ${p.deploy.ok ? 'succeeded' : `failed: ${p.deploy.error ?? 'unknown error'}`} with ${p.deploy.deployer} at ${p.deploy.at}`);
  lines.push(`  workflow     ${p.temporal.workflowId}${p.temporal.runId ? ` run ${p.temporal.runId}` : ''}`);
  if (p.temporal.uiUrl) lines.push(`  history      ${p.temporal.uiUrl}`);
  return lines;
}

const verifyCommand: Command = {
  summary: 'check a deployment\'s evidence offline: signature, artifact digest, and that the approvals meet the rule',
  usage: VERIFY_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, { key: { type: 'string' }, digest: { type: 'string' } }, VERIFY_USAGE);
    if (values.help) {
      io.stdout(`${VERIFY_USAGE}\n`);
      return EXIT.OK;
    }
    if (positionals.length !== 1) throw usageError(`${positionals.length === 0 ? 'name the evidence FILE' : `one FILE only, got ${positionals.join(' ')}`}\n\n${VERIFY_USAGE}`);
    const digest = values.digest as string | undefined;
    if (digest !== undefined && !normalizeDigest(digest)) throw usageError(`--digest must be sha256:<64 hex>, got ${JSON.stringify(digest)}`);

    const file = positionals[0];
    const text = readText(io, file, 'the evidence file');
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch (err) {
      io.stderr(`evidence INVALID: ${file} is not JSON (${(err as Error).message}); it is not Countersign evidence, or it was altered\n`);
      return EXIT.INVALID;
    }

    let verdict: EvidenceVerdict;
    let fetchedFrom: string | undefined;
    if (values.key !== undefined) {
      const keyFile = values.key as string;
      const pem = readText(io, keyFile, 'the key file');
      try {
        readPublicKey(pem, `the key file ${keyFile}`);
      } catch (err) {
        throw usageError((err as Error).message);
      }
      verdict = verifyEvidence(envelope, { publicKeyPem: pem, digest });
    } else {
      if (!io.env.COUNTERSIGN_URL?.trim()) {
        throw usageError(`no key to check the signature with: pass --key KEY (the server's public key, PEM; \`countersign keys\` or GET /v1/keys gives it), or set COUNTERSIGN_URL to fetch it\n\n${VERIFY_USAGE}`);
      }
      const { url, keys } = await serverKeys(io, 'to fetch its public key, or pass --key');
      fetchedFrom = url;
      const named = signedKeyIds(envelope);
      const verdicts = keys.map((key) => verifyEvidence(envelope, { publicKeyPem: key.publicKeyPem, digest }));
      verdict =
        verdicts.find((v) => v.ok) ??
        verdicts.find((v, i) => named.includes(keys[i].keyid) || (v.keyid !== undefined && named.includes(v.keyid))) ??
        verdicts[0];
      if (!verdict.ok && named.length > 0 && !keys.some((key) => named.includes(key.keyid))) {
        verdict = { ...verdict, problems: [...verdict.problems, `the evidence names key ${named.join(', ')}, which ${url} does not publish (it publishes ${keys.map((k) => k.keyid).join(', ')})`] };
      }
    }

    if (!verdict.ok) {
      io.stderr(`evidence INVALID: ${file}\n${verdict.problems.map((problem) => `  - ${problem}\n`).join('')}`);
      for (const note of verdict.notes) io.stderr(`  note: ${note}\n`);
      return EXIT.INVALID;
    }
    io.stdout(`${summary(verdict).join('\n')}\n`);
    for (const note of verdict.notes) io.stdout(`note: ${note}\n`);
    if (fetchedFrom) {
      io.stdout(`note: the key came from ${fetchedFrom}; for a check that does not trust that server, save it once and pass --key\n`);
    }
    return EXIT.OK;
  },
};

// --- audit verify -----------------------------------------------------------------------------

const AUDIT_USAGE = `usage: countersign audit verify

  Walks the server's hash-chained audit trail (GET $COUNTERSIGN_URL/v1/audit/verify) with
  COUNTERSIGN_TOKEN, an admin's token; prints the first broken link if there is one.`;

const auditCommand: Command = {
  summary: 'check the server\'s audit hash chain (needs COUNTERSIGN_URL and an admin COUNTERSIGN_TOKEN)',
  usage: AUDIT_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, {}, AUDIT_USAGE);
    if (values.help) {
      io.stdout(`${AUDIT_USAGE}\n`);
      return EXIT.OK;
    }
    if (positionals.length !== 1 || positionals[0] !== 'verify') {
      throw usageError(`${positionals.length ? `unknown audit command ${JSON.stringify(positionals.join(' '))}` : 'name the audit command'}\n\n${AUDIT_USAGE}`);
    }
    const base = serverUrl(io, 'to check its audit chain');
    const token = io.env.COUNTERSIGN_TOKEN?.trim();
    if (!token) throw usageError('set COUNTERSIGN_TOKEN to an admin\'s token: the audit chain is for admins only');
    const url = `${base}/v1/audit/verify`;
    const body = await getJson(io, url, token);
    if (body.ok === true) {
      io.stdout(`audit chain intact: ${body.events ?? '?'} event${body.events === 1 ? '' : 's'}${body.head ? `, head ${body.head}` : ''}\n`);
      return EXIT.OK;
    }
    if (body.ok === false) {
      const at = body.brokenAt ? `event ${body.brokenAt.seq}${body.brokenAt.eventId ? ` (${body.brokenAt.eventId})` : ''}` : 'an unnamed event';
      io.stderr(`audit chain BROKEN at ${at}: ${body.reason ?? 'no reason given'}\n` +
        `  ${body.events ?? '?'} event(s) before it are intact\n`);
      return EXIT.INVALID;
    }
    throw new CliError(EXIT.SERVER, `${url} answered neither {"ok": true} nor {"ok": false}: is COUNTERSIGN_URL a Countersign server?`);
  },
};

// --- keys -------------------------------------------------------------------------------------

const KEYS_USAGE = `usage: countersign keys

  Prints the server's evidence public key (PEM, from $COUNTERSIGN_URL/v1/keys) on stdout,
  so that \`countersign keys > countersign.pem\` saves it for \`verify --key countersign.pem\`.`;

const keysCommand: Command = {
  summary: 'print the server\'s evidence public key (PEM), to save for verify --key',
  usage: KEYS_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, {}, KEYS_USAGE);
    if (values.help) {
      io.stdout(`${KEYS_USAGE}\n`);
      return EXIT.OK;
    }
    if (positionals.length) throw usageError(`keys takes no arguments\n\n${KEYS_USAGE}`);
    const { url, keys } = await serverKeys(io, 'to fetch its keys');
    for (const key of keys) {
      let keyid = key.keyid;
      try {
        keyid = keyIdOf(readPublicKey(key.publicKeyPem, 'the key'));
      } catch (err) {
        throw new CliError(EXIT.SERVER, `${url} published an unreadable key: ${(err as Error).message}`);
      }
      if (keyid !== key.keyid) throw new CliError(EXIT.SERVER, `${url} published key ${key.keyid}, but its PEM is ${keyid}`);
      io.stderr(`key ${keyid} (${key.algorithm})\n`);
      io.stdout(key.publicKeyPem.endsWith('\n') ? key.publicKeyPem : `${key.publicKeyPem}\n`);
    }
    return EXIT.OK;
  },
};

// --- reconcile -------------------------------------------------------------------------------

const RECONCILE_USAGE = `usage: countersign reconcile [--deployment ID] [--since TIME]

  Fills in audit events the database missed (an outage, a restore from an older backup),
  re-derived from the Temporal history of each deployment ($COUNTERSIGN_URL/v1/audit/reconcile,
  COUNTERSIGN_TOKEN of an admin). Events already in the trail are never written twice, so it
  is safe to run at any time. Without --deployment, every deployment the index knows (or
  those requested since TIME, ISO 8601).`;

const reconcileCommand: Command = {
  summary: 'fill in audit events the database missed, from Temporal\'s histories',
  usage: RECONCILE_USAGE,
  async run(args, io) {
    const { values, positionals } = parse(args, { deployment: { type: 'string' }, since: { type: 'string' } }, RECONCILE_USAGE);
    if (values.help) {
      io.stdout(`${RECONCILE_USAGE}\n`);
      return EXIT.OK;
    }
    if (positionals.length) throw usageError(`reconcile takes no positional arguments\n\n${RECONCILE_USAGE}`);
    if (typeof values.since === 'string' && Number.isNaN(Date.parse(values.since))) {
      throw usageError(`--since must be an ISO 8601 time such as 2026-01-31T00:00:00Z, got ${JSON.stringify(values.since)}`);
    }
    const base = serverUrl(io, 'to reconcile its audit trail');
    const token = io.env.COUNTERSIGN_TOKEN?.trim();
    if (!token) throw usageError('set COUNTERSIGN_TOKEN to an admin\'s token: reconciliation is for admins only');
    const query = new URLSearchParams();
    if (typeof values.deployment === 'string') query.set('deployment', values.deployment);
    if (typeof values.since === 'string') query.set('since', values.since);
    const body = await getJson(io, `${base}/v1/audit/reconcile${query.size ? `?${query}` : ''}`, token, 'POST');
    const failed = (body.results ?? []).filter((result: { error?: string }) => result.error);
    io.stdout(`reconciled ${(body.results ?? []).length} deployment(s): ${body.eventsAdded ?? 0} missing event(s) added\n`);
    for (const result of failed) io.stderr(`  ${result.deploymentId}: ${result.error}\n`);
    return EXIT.OK;
  },
};

// --- the whole -------------------------------------------------------------------------------

/** Every command by name; add one here and it is in `--help` too. */
export const commands: Record<string, Command> = {
  request: requestCommand,
  status: statusCommand,
  list: listCommand,
  approve: approveCommand,
  reject: rejectCommand,
  verify: verifyCommand,
  audit: auditCommand,
  keys: keysCommand,
  reconcile: reconcileCommand,
};

export function helpText(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    'usage: countersign COMMAND [options]',
    '',
    'commands:',
    ...Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    '`countersign COMMAND --help` details one.',
    '',
    'environment:',
    '  COUNTERSIGN_URL         the server, e.g. http://127.0.0.1:3000 (for every command but verify --key)',
    '  COUNTERSIGN_TOKEN       a bearer token (audit verify needs an admin\'s)',
    '  without COUNTERSIGN_TOKEN, a CI identity token: GitHub Actions (permissions: id-token: write;',
    '                          audience COUNTERSIGN_AUDIENCE, default countersign) or GitLab',
    '                          (id_tokens: COUNTERSIGN_ID_TOKEN)',
    '  COUNTERSIGN_PUBLIC_URL  the base of approvers\' links (default COUNTERSIGN_URL)',
    '',
    'exit codes:',
    '  0  valid evidence, an intact audit chain, the wanted state reached: the command succeeded',
    '  1  invalid evidence, a broken audit chain, or the gate said no (REJECTED, EXPIRED,',
    '     CANCELLED, FAILED, a refused approval); the reason is printed last',
    '  2  usage error: bad arguments, a missing setting, a file that cannot be read',
    '  3  the server is unreachable or refused the request (401, 403, 5xx…)',
    '  4  request --wait --timeout: the time passed; the request stays pending',
    '',
  ].join('\n');
}

export async function main(argv: string[], given: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = {
    stdout: given.stdout ?? ((text) => process.stdout.write(text)),
    stderr: given.stderr ?? ((text) => process.stderr.write(text)),
    env: given.env ?? process.env,
    fetch: given.fetch ?? globalThis.fetch,
    cwd: given.cwd ?? process.cwd(),
    // A live status line only on a terminal, never in CI (CI=true) or when output is captured.
    isTTY: given.isTTY ?? (given.stdout === undefined && Boolean(process.stdout.isTTY) && !(given.env ?? process.env).CI),
    columns: given.columns ?? process.stdout.columns,
  };
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(helpText());
    return EXIT.USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic && commands[topic]) io.stdout(`${commands[topic].usage}\n`);
    else io.stdout(helpText());
    return EXIT.OK;
  }
  const command = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.stderr(`countersign: unknown command ${JSON.stringify(name)}\n\n${helpText()}`);
    return EXIT.USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`countersign ${name}: ${err.message}\n`);
      return err.exit;
    }
    io.stderr(`countersign ${name}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.USAGE;
  }
}

/** `node -r test/support/register-ts.js cli/countersign.ts …` runs it from source, as bin/countersign.js runs dist. */
if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
