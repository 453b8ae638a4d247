// Records a DEPLOYED request where the code lives: an annotated tag on the deployed commit,
// whose message names the deployment, the artifact, who approved it and the sha256 of its
// signed evidence. The repository is a local path (tagged in place) or a remote URL (tagged in
// a bare mirror under the data folder, then pushed). Credentials come from the environment (a
// URL with a token, GIT_SSH_COMMAND, a credential helper) and never appear in an error.
//
// git runs through execFile, never a shell, with a timeout on every call.

import { ApplicationFailure, Context } from '@temporalio/activity';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { evidenceDocument } from '../evidence';
import type { EvidenceKey } from '../evidence/keys';
import type { DeploymentRequest, DeploymentView, GitTagResult } from '../policy/types';
import type { GitActivities } from './types';

export const TAGGER = { name: 'Countersign', email: 'countersign@localhost' } as const;

const LOCAL_TIMEOUT_MS = 20_000;
const NETWORK_TIMEOUT_MS = 60_000;

// --- pure parts ---------------------------------------------------------------------------

/**
 * A ref name git accepts (`git check-ref-format`): characters git forbids become `-`, empty
 * components, leading dots, `..`, `.lock` endings, `@{` and trailing dots are removed.
 */
export function sanitizeRefName(name: string): string {
  const cleaned = name
    // control characters, space, DEL and ~ ^ : ? * [ \
    .replace(/[\u0000-\u0020\u007f~^:?*[\\]/g, '-')
    .replace(/@\{/g, '@-');
  const components = cleaned
    .split('/')
    .map((component) => {
      let part = component.replace(/\.{2,}/g, '.').replace(/^\.+/, '');
      while (part.endsWith('.lock')) part = `${part.slice(0, -'.lock'.length)}-lock`;
      return part.replace(/\.+$/, '');
    })
    .filter((component) => component !== '');
  const result = components.join('/');
  if (result === '' || result === '@') {
    throw new Error(`the tag format gives ${JSON.stringify(name)}, which is no valid tag name even after clean-up`);
  }
  return result;
}

/** The tag for a deployment: `{environment}`, `{service}` and `{id}` substituted, then made a valid ref name. */
export function formatTagName(format: string, values: { environment: string; service: string; id: string }): string {
  const substituted = format
    .replace(/\{environment\}/g, values.environment)
    .replace(/\{service\}/g, values.service)
    .replace(/\{id\}/g, values.id);
  return sanitizeRefName(substituted);
}

/** One line of the message: a value from a request must not be able to start a line of its own. */
function line(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
}

/** The annotated tag's message: everything an auditor reading `git show <tag>` needs. */
export function tagMessage(input: { request: DeploymentRequest; deployment: DeploymentView; evidenceSha256?: string }): string {
  const { request, deployment } = input;
  const lines = [
    line(`Deployed ${request.service} to ${request.environment} (Countersign deployment ${request.id})`),
    '',
    `Deployment: ${line(request.id)}`,
    `Service: ${line(request.service)}`,
    `Environment: ${line(request.environment)}`,
    `Artifact: ${line(request.artifact.name)}@${line(request.artifact.digest)}`,
    `Digest: ${line(request.artifact.digest)}`,
    `Commit: ${line(request.change.commit)}`,
    `Tier: ${line(request.rule.tier)} (${request.rule.approvals} approval${request.rule.approvals === 1 ? '' : 's'} required)`,
    `Requested-by: ${line(request.requester.id)} at ${line(request.requestedAt)}`,
    ...(deployment.approvals.length
      ? deployment.approvals.map((approval) => `Approved-by: ${line(approval.approver)} at ${line(approval.at)}`)
      : ['Approved-by: nobody']),
  ];
  if (deployment.override) {
    lines.push(`Overridden-by: ${line(deployment.override.by)} at ${line(deployment.override.at)}: ${line(deployment.override.reason)}`);
  }
  if (deployment.decision) {
    lines.push(`Decision: ${line(deployment.decision.status)} at ${line(deployment.decision.at)}: ${line(deployment.decision.reason)}`);
  } else {
    lines.push(`Decision: ${line(deployment.status)}`);
  }
  if (deployment.deploy) lines.push(`Deployed-with: ${line(deployment.deploy.deployer)} at ${line(deployment.deploy.at)}`);
  lines.push(`Policy: ${line(request.rule.policyHash)}`);
  if (input.evidenceSha256) lines.push(`Evidence-SHA256: ${line(input.evidenceSha256)}`);
  return `${lines.join('\n')}\n`;
}

/** A URL or scp-like address (`git@host:org/repo.git`) rather than a path on this machine. */
export function isRemoteRepo(repo: string): boolean {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(repo)) return true;
  return /^[^/\\]+:/.test(repo) && !/^[A-Za-z]:[\\/]/.test(repo);
}

/** The URL without its user and password, for messages and the mirror's name. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@]*@/, '$1');
}

/** Removes anything that looks like URL credentials, and the given secrets, from text git printed. */
export function redact(text: string, secrets: string[] = []): string {
  let result = text.replace(/([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s]+@/g, '$1***@');
  for (const secret of secrets) {
    if (secret.length >= 4) result = result.split(secret).join('***');
  }
  return result;
}

function credentialsOf(url: string): string[] {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/@]*)@/.exec(url);
  if (!match) return [];
  const secrets = [match[1], ...match[1].split(':')];
  return [...secrets, ...secrets.map((secret) => { try { return decodeURIComponent(secret); } catch { return secret; } })]
    .filter((secret) => secret.length > 0);
}

// --- running git --------------------------------------------------------------------------

export class GitError extends Error {
  constructor(message: string, readonly stderr: string, readonly exitCode: number | string | null) {
    super(message);
    this.name = 'GitError';
  }
}

interface GitOptions {
  cwd?: string;
  timeoutMs?: number;
  /** Printed instead of the real values in errors. */
  secrets?: string[];
  signal?: AbortSignal;
}

export function runGit(args: string[], options: GitOptions = {}): Promise<string> {
  const timeout = options.timeoutMs ?? LOCAL_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd: options.cwd,
        timeout,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        signal: options.signal,
        windowsHide: true,
        // Never wait for a password at a terminal nobody watches; messages in English for the errors.
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', LANG: 'C' },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const failure = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        const said = redact(String(stderr || '').trim(), options.secrets);
        const command = redact(`git ${args.map((arg) => (arg.includes('\n') ? '<message>' : arg)).join(' ')}`, options.secrets);
        const why =
          failure.code === 'ENOENT'
            ? 'git is not installed on the worker (or not on its PATH)'
            : failure.killed
              ? `no answer within ${timeout / 1000} s`
              : said || redact(failure.message, options.secrets);
        reject(new GitError(`${command} failed: ${why}`, said, failure.code ?? null));
      },
    );
  });
}

/** The commit a ref or object names, or undefined when there is none. */
async function peeled(repo: string, ref: string, secrets?: string[]): Promise<string | undefined> {
  try {
    return (await runGit(['rev-parse', '-q', '--verify', `${ref}^{commit}`], { cwd: repo, secrets })).trim() || undefined;
  } catch {
    return undefined;
  }
}

async function hasCommit(repo: string, commit: string): Promise<boolean> {
  return (await peeled(repo, commit)) === commit;
}

async function assertValidTagName(tag: string): Promise<void> {
  try {
    await runGit(['check-ref-format', `refs/tags/${tag}`]);
  } catch {
    throw ApplicationFailure.nonRetryable(`${JSON.stringify(tag)} is not a valid tag name (git check-ref-format); change git.tagFormat`, 'GitBadTagName');
  }
}

function conflictFailure(tag: string, where: string, existing: string, wanted: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `tag ${tag} already exists in ${where} on commit ${existing}, not on the deployed commit ${wanted}; ` +
      'Countersign never moves a tag: delete it by hand if it is wrong, or change git.tagFormat',
    'GitTagConflict',
  );
}

async function createTag(repo: string, tag: string, commit: string, message: string, secrets?: string[]): Promise<void> {
  await runGit(
    [
      '-c', `user.name=${TAGGER.name}`,
      '-c', `user.email=${TAGGER.email}`,
      // A tag nobody can sign here must not fail because someone's global config asks for it.
      '-c', 'tag.gpgSign=false',
      'tag', '-a', '--cleanup=whitespace', '-m', message, tag, commit,
    ],
    { cwd: repo, secrets },
  );
}

/** Creates the tag unless it is there; answers whether it was there already. */
async function ensureTag(repo: string, where: string, tag: string, commit: string, message: string, secrets?: string[]): Promise<boolean> {
  const existing = await peeled(repo, `refs/tags/${tag}`, secrets);
  if (existing === commit) return true;
  if (existing) throw conflictFailure(tag, where, existing, commit);
  try {
    await createTag(repo, tag, commit, message, secrets);
    return false;
  } catch (err) {
    // Another attempt may have created it meanwhile.
    const now = await peeled(repo, `refs/tags/${tag}`, secrets);
    if (now === commit) return true;
    if (now) throw conflictFailure(tag, where, now, commit);
    throw err;
  }
}

async function tagInPlace(repo: string, tag: string, commit: string, message: string): Promise<GitTagResult> {
  const where = path.resolve(repo);
  if (!existsSync(where)) {
    throw ApplicationFailure.nonRetryable(`git.repo ${where} is not a git repository (no such directory); set git.repo to a repository path or URL`, 'GitNoRepository');
  }
  try {
    await runGit(['rev-parse', '--git-dir'], { cwd: where });
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `git.repo ${where} is not a git repository (${(err as Error).message}); set git.repo to a repository path or URL`,
      'GitNoRepository',
    );
  }
  if (!(await hasCommit(where, commit))) {
    throw ApplicationFailure.nonRetryable(`commit ${commit} is not in the repository ${where}; the deployment names a commit it does not have`, 'GitCommitMissing');
  }
  const existed = await ensureTag(where, where, tag, commit, message);
  let origin = false;
  try {
    origin = (await runGit(['remote'], { cwd: where })).split('\n').includes('origin');
  } catch {
    // no remotes to speak of
  }
  const detail = [
    existed ? `tag ${tag} was already in ${where} on ${commit}` : `tagged ${commit} as ${tag} in ${where}`,
    origin ? 'not pushed: a local repository is tagged in place, its origin is left to whoever owns it' : '',
  ].filter(Boolean).join('; ');
  return { tag, commit, pushed: false, detail };
}

/** Where a remote repository is mirrored: named by the URL without credentials, so a rotated token keeps it. */
export function mirrorPath(dataDir: string, url: string): string {
  return path.join(dataDir, 'git', createHash('sha256').update(withoutCredentials(url)).digest('hex').slice(0, 32));
}

async function tagRemote(url: string, dataDir: string, tag: string, commit: string, message: string): Promise<GitTagResult> {
  const secrets = credentialsOf(url);
  const shown = withoutCredentials(url);
  const network = { secrets, timeoutMs: NETWORK_TIMEOUT_MS };

  // What the remote already has decides: an identical tag there is done.
  const onRemote = await remoteTagCommit(url, tag, network);
  if (onRemote === commit) return { tag, commit, pushed: true, detail: `tag ${tag} was already in ${shown} on ${commit}` };
  if (onRemote) throw conflictFailure(tag, shown, onRemote, commit);

  const mirror = mirrorPath(dataDir, url);
  if (!existsSync(path.join(mirror, 'HEAD'))) {
    mkdirSync(mirror, { recursive: true });
    await runGit(['init', '--bare', '--quiet', mirror], { secrets });
    // The origin names the repository for people; the credentials are only ever on the command line.
    await runGit(['remote', 'add', 'origin', shown], { cwd: mirror, secrets }).catch(() => undefined);
  }
  if (!(await hasCommit(mirror, commit))) {
    try {
      await runGit(['fetch', '--quiet', '--no-tags', url, commit], { ...network, cwd: mirror });
    } catch (err) {
      // Some servers refuse a bare commit id: fetch the branches and look again.
      await runGit(['fetch', '--quiet', '--no-tags', url, '+refs/heads/*:refs/heads/*'], { ...network, cwd: mirror }).catch(() => undefined);
      if (!(await hasCommit(mirror, commit))) {
        const said = err instanceof GitError ? err.stderr : (err as Error).message;
        if (/not our ref|couldn't find remote ref|no such remote ref|not found|unadvertised object/i.test(said)) {
          throw ApplicationFailure.nonRetryable(`commit ${commit} is not in the repository ${shown}; the deployment names a commit it does not have (git: ${said})`, 'GitCommitMissing');
        }
        throw err;
      }
    }
  }
  if (!(await hasCommit(mirror, commit))) {
    throw ApplicationFailure.nonRetryable(`commit ${commit} is not in the repository ${shown}`, 'GitCommitMissing');
  }

  // The mirror is a cache: a tag left there by an attempt whose push never landed elsewhere goes.
  const inMirror = await peeled(mirror, `refs/tags/${tag}`, secrets);
  if (inMirror && inMirror !== commit) await runGit(['tag', '-d', tag], { cwd: mirror, secrets });
  await ensureTag(mirror, shown, tag, commit, message, secrets);

  try {
    await runGit(['push', '--quiet', '--no-verify', url, `refs/tags/${tag}:refs/tags/${tag}`], { ...network, cwd: mirror });
  } catch (err) {
    const now = await remoteTagCommit(url, tag, network).catch(() => undefined);
    if (now === commit) return { tag, commit, pushed: true, detail: `tag ${tag} was already in ${shown} on ${commit}` };
    if (now) throw conflictFailure(tag, shown, now, commit);
    throw err;
  }
  return { tag, commit, pushed: true, detail: `tagged ${commit} as ${tag} and pushed it to ${shown}` };
}

/** The commit a tag of the remote points at (peeled through an annotated tag), or undefined. */
async function remoteTagCommit(url: string, tag: string, options: GitOptions): Promise<string | undefined> {
  // Both patterns: with the tag's name alone, ls-remote leaves out the peeled `^{}` line.
  const out = await runGit(['ls-remote', '--tags', url, `refs/tags/${tag}`, `refs/tags/${tag}^{}`], options);
  let direct: string | undefined;
  let peeledCommit: string | undefined;
  for (const row of out.split('\n')) {
    const [sha, ref] = row.trim().split(/\s+/);
    if (ref === `refs/tags/${tag}`) direct = sha;
    if (ref === `refs/tags/${tag}^{}`) peeledCommit = sha;
  }
  return peeledCommit ?? direct;
}

// --- the activity -------------------------------------------------------------------------

export interface GitDependencies {
  /** Where mirrors of remote repositories are kept (`<dataDir>/git/<hash of url>`). */
  dataDir: string;
  /** Signs the evidence whose sha256 the tag message carries; without it the line is left out. */
  evidenceKey?: EvidenceKey;
  /** For the evidence: the Temporal UI the evidence links to. */
  temporalUiUrl?: string;
  /**
   * Keeps the evidence the tag names, byte for byte, so that it can still be fetched by its
   * sha256 after the deployment's evidence has moved on.
   */
  keepEvidence?: (record: { sha256: string; deploymentId: string; document: string; recordedFor: string }) => Promise<void>;
}

function activityInfo(): { runId?: string; namespace?: string } {
  try {
    const context = Context.current();
    return { runId: context.info.workflowExecution?.runId, namespace: context.info.workflowNamespace };
  } catch {
    return {}; // called outside an activity (a test, a repair script)
  }
}

export async function recordDeploymentTag(
  deps: GitDependencies,
  { request, deployment }: { request: DeploymentRequest; deployment: DeploymentView },
): Promise<GitTagResult> {
  const git = request.rule.git;
  if (!git) throw ApplicationFailure.nonRetryable('the request\'s rule names no git repository', 'GitNoRepository');
  let tag: string;
  try {
    tag = formatTagName(git.tagFormat, request);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'GitBadTagName');
  }
  await assertValidTagName(tag);
  const commit = request.change.commit;

  let evidenceSha256: string | undefined;
  if (deps.evidenceKey) {
    const { runId, namespace } = activityInfo();
    // The same document GET /v1/deployments/{id}/evidence serves: it leaves out the tag itself.
    const { json, sha256 } = evidenceDocument(
      { deployment, request, runId, namespace, temporalUiUrl: deps.temporalUiUrl },
      deps.evidenceKey,
    );
    evidenceSha256 = sha256.replace(/^sha256:/, '');
    // Kept before the tag exists, so a tag never names evidence nobody can fetch.
    await deps.keepEvidence?.({ sha256: evidenceSha256, deploymentId: deployment.id, document: json, recordedFor: `git tag ${tag}` });
  }
  const message = tagMessage({ request, deployment, evidenceSha256 });

  try {
    return isRemoteRepo(git.repo)
      ? await tagRemote(git.repo, deps.dataDir, tag, commit, message)
      : await tagInPlace(git.repo, tag, commit, message);
  } catch (err) {
    if (err instanceof ApplicationFailure) throw err;
    // Retryable: the network, a lock another git held, a server that was away.
    throw ApplicationFailure.retryable(redact((err as Error).message, credentialsOf(git.repo)), 'GitFailed');
  }
}

export function createGitActivities(deps: GitDependencies): GitActivities {
  return {
    recordDeploymentTag: (input) => recordDeploymentTag(deps, input),
  };
}
