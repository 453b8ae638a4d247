// Loads the policy file, validates it, and keeps the current policy for the process. A reload
// validates the new file the same way and keeps the old policy when the new one is invalid.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PolicyError, validatePolicy, type Policy } from '../policy/config';

/** `env` resolves the file's `${NAME}` references: Settings.policyEnv (settings/settings.ts). */
export function loadPolicy(file: string, env: Readonly<Record<string, string | undefined>>): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new PolicyError([`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set COUNTERSIGN_CONFIG to the policy file`]);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new PolicyError([`${file}: is not valid YAML: ${(err as Error).message}`]);
  }
  const hash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return validatePolicy(raw, hash, env);
}

export class PolicyHolder {
  private policy: Policy;

  constructor(
    readonly file: string,
    private readonly env: Readonly<Record<string, string | undefined>> = {},
    loaded?: Policy,
  ) {
    this.policy = loaded ?? loadPolicy(file, env);
  }

  current(): Policy {
    return this.policy;
  }

  /**
   * The policy as the file has it now: reloaded (with the same validation) when the file's
   * bytes changed since the last load, else the policy in force; an unreadable or invalid file
   * leaves the policy in force, reported once. The worker reads the change calendar this way, so
   * a freeze written to the file holds deploys without a reload of the worker's process.
   */
  fresh(log: (line: string) => void = console.warn): Policy {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return this.policy;
    }
    const hash = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    if (hash === this.policy.hash || hash === this.refusedHash) return this.policy;
    try {
      this.policy = loadPolicy(this.file, this.env);
      log(`policy reloaded from ${this.file} (${this.policy.hash}): the file changed`);
    } catch (err) {
      this.refusedHash = hash;
      log(`policy NOT reloaded, the previous one stays in force: ${(err as Error).message}`);
    }
    return this.policy;
  }

  private refusedHash: string | undefined;

  private calendarHolder: PolicyHolder | undefined;

  /**
   * The policy whose change calendar (`freezes`) is read: the file as it is now (`fresh`), kept
   * apart from the policy in force, so that a freeze written to the file holds deploys at once
   * while rules and deployers change only on a reload.
   */
  freshCalendar(log: (line: string) => void = console.warn): Policy {
    this.calendarHolder ??= new PolicyHolder(this.file, this.env, this.policy);
    return this.calendarHolder.fresh(log);
  }

  /** Throws PolicyError, keeping the policy in force, when the file is invalid. */
  reload(): Policy {
    this.policy = loadPolicy(this.file, this.env);
    return this.policy;
  }

  /** SIGHUP reloads, as daemons do; a bad file is reported and the old policy stays. */
  reloadOnSighup(log: (line: string) => void = console.log): void {
    process.on('SIGHUP', () => {
      try {
        const policy = this.reload();
        log(`policy reloaded from ${this.file} (${policy.hash})`);
      } catch (err) {
        log(`policy NOT reloaded, the previous one stays in force: ${(err as Error).message}`);
      }
    });
  }
}
