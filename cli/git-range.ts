// `--from-git`: the change as the repository tells it. The commit is HEAD, the summary its
// subject, and the authors are everyone who wrote any commit in the range since the commit last
// deployed to the service and environment: each commit's author and every `Co-authored-by`
// person. Segregation of duties excludes all of them, not only whoever wrote the head commit.
// git runs as a child process with an argument array: nothing passes through a shell.

import { execFile } from 'node:child_process';
import { usageError } from './common';

export interface GitRun {
  (args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

export function gitIn(cwd: string): GitRun {
  return (args) =>
    new Promise((resolve, reject) => {
      execFile('git', args, { cwd, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8', env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } }, (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          reject(usageError(`--from-git needs git: ${(err as Error).message}`));
          return;
        }
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
}

export interface GitChange {
  commit: string;
  summary: string;
  /** `Name <email>` of every author and co-author in the range, each once, in order of appearance. */
  authors: string[];
  /** The commits whose authors were taken, newest first. */
  commits: string[];
  /** The range as git spells it (`base..head`, or the head alone). */
  range: string;
  /** Why the range is what it is, for the pipeline's log. */
  reason: string;
}

/** How many commits one request may carry authors of (their authors are bounded by the API too). */
export const MAX_COMMITS = 10_000;
const RECORD = '\x1e';
const FIELD = '\x1f';
const TRAILER = /^[ \t]*co-authored-by[ \t]*:[ \t]*(.+?)[ \t]*$/gim;

/** Control characters never leave the repository for the API (it refuses them). */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** `Name <email>`, within what the API stores for one author. */
function person(name: string, email: string): string {
  const cleanEmail = clean(email);
  const cleanName = clean(name).replace(/[<>]/g, '').slice(0, 200);
  if (!cleanEmail) return cleanName;
  return cleanName ? `${cleanName} <${cleanEmail}>` : `<${cleanEmail}>`;
}

/** The people one commit names: its author, and every Co-authored-by trailer of its message. */
export function commitPeople(authorName: string, authorEmail: string, message: string): string[] {
  const people = [person(authorName, authorEmail)];
  for (const match of message.matchAll(TRAILER)) {
    const value = clean(match[1]);
    const angle = /^(.*?)<([^<>]*)>\s*$/.exec(value);
    people.push(angle ? person(angle[1], angle[2]) : value.slice(0, 320));
  }
  return people.filter(Boolean);
}

/** One entry per person: the same address (any case) counts once. */
export function uniquePeople(entries: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const entry of entries) {
    const key = (/<([^<>]*)>/.exec(entry)?.[1] ?? entry).trim().toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(entry);
  }
  return out;
}

const short = (sha: string) => sha.slice(0, 12);

/**
 * The change at HEAD of the repository `git` runs in. `lastDeployed` is the commit of the newest
 * DEPLOYED deployment of the service and environment, when the server knows one.
 */
export async function changeFromGit(git: GitRun, lastDeployed: string | undefined): Promise<GitChange> {
  const head = await git(['rev-parse', '--verify', '--end-of-options', 'HEAD^{commit}']);
  if (head.code !== 0) {
    throw usageError(`--from-git: no commit at HEAD here (${clean(head.stderr) || 'not a git repository'}); run it in the repository's checkout`);
  }
  const commit = head.stdout.trim();
  const subject = await git(['log', '-1', '--format=%s', commit]);

  let range = commit;
  let reason: string;
  let args = ['log', '-1', commit];
  if (lastDeployed !== undefined && !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(lastDeployed)) {
    reason = 'the server named no usable commit as last deployed: only HEAD';
  } else if (!lastDeployed) {
    reason = 'no earlier DEPLOYED deployment of this service and environment: only HEAD';
  } else if (lastDeployed === commit) {
    reason = `HEAD is the commit last deployed (${short(commit)}): only HEAD`;
  } else {
    const ancestor = await git(['merge-base', '--is-ancestor', lastDeployed, commit]);
    if (ancestor.code === 0) {
      range = `${lastDeployed}..${commit}`;
      reason = `every commit since ${short(lastDeployed)}, the commit last deployed`;
      args = ['log', `--max-count=${MAX_COMMITS + 1}`, range];
    } else if (ancestor.code === 1) {
      reason = `the commit last deployed (${short(lastDeployed)}) is not an ancestor of HEAD: only HEAD`;
    } else {
      reason = `the commit last deployed (${short(lastDeployed)}) is not in this clone (a shallow clone? fetch the whole history, e.g. fetch-depth: 0): only HEAD`;
    }
  }

  const log = await git([...args, `--format=%H${FIELD}%an${FIELD}%ae${FIELD}%B${RECORD}`]);
  if (log.code !== 0) throw usageError(`--from-git: git log failed: ${clean(log.stderr)}`);
  const records = log.stdout.split(RECORD).map((record) => record.replace(/^\n/, '')).filter((record) => record.includes(FIELD));
  if (records.length > MAX_COMMITS) {
    throw usageError(`--from-git: ${range} holds more than ${MAX_COMMITS} commits; pass the authors with --author instead`);
  }
  const commits: string[] = [];
  const people: string[] = [];
  for (const record of records) {
    const [sha, name, email, ...message] = record.split(FIELD);
    commits.push(sha.trim());
    people.push(...commitPeople(name, email, message.join(FIELD)));
  }
  return {
    commit,
    summary: clean(subject.stdout).slice(0, 4000),
    authors: uniquePeople(people),
    commits,
    range: range === commit ? short(commit) : `${short(lastDeployed!)}..${short(commit)}`,
    reason,
  };
}
