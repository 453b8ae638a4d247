// The policy file: which tier each service and environment falls in, each tier's rule, and
// the deployers. Validation is strict and names the key at fault, because a typo in a
// segregation-of-duties policy must stop start-up rather than quietly weaken the gate.

import { parseDuration } from './duration';
import { cronProblem, type FreezeSchedule, type FreezeWindow, isTimeZone, parseInstant, parseWeeklyPoint } from './freezes';
import { globMatches } from './glob';
import { canonicalGlob, canonicalName, isGlob, type KnownNames, nameMatches, resolveName } from './names';
import { type NotifySettings, validateNotifySection, validateTierNotify } from './notify';
import type { AppliedRule, DeployerSpec, TierRule } from './types';

export interface PolicyRule {
  service: string;
  environment: string;
  tier: string;
  deployer: string;
  /** A newer request for the same service and environment cancels older PENDING ones (else the tier's `supersede`). */
  supersede?: boolean;
}

export interface OidcIssuer {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** Which claim names the principal (matched against principals' `subjects`). */
  principalClaim: string;
}

/**
 * The approver page (api/ui): its sessions, the proxies whose X-Forwarded-Proto it believes,
 * and an OIDC provider people sign in with (authorization code + PKCE), under `auth.ui`.
 */
export interface UiSettings {
  /** A session unused this long ends (`auth.ui.sessionIdle`, default 30m). */
  sessionIdleMs: number;
  /** A session ends this long after sign-in, however used (`auth.ui.sessionMaxAge`, default 12h). */
  sessionMaxAgeMs: number;
  /** Peer addresses whose X-Forwarded-Proto says whether the browser used TLS (`auth.ui.trustedProxies`). */
  trustedProxies: string[];
  oidc?: UiOidcProvider;
}

export interface UiOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  /** Each taken from the issuer's discovery document when not given. */
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  jwksUrl?: string;
  /** Which claim of the id_token names the principal (matched against principals' `subjects`). */
  principalClaim: string;
  scopes: string[];
  /** The callback URL registered with the provider; default the page's own /ui/oidc/callback. */
  redirectUrl?: string;
  /** The sign-in button's words. */
  label: string;
}

export interface GitSettings {
  repo?: string;
  tagFormat: string;
  approveTagFormat: string;
  requestTagFormat: string;
  webhookSecret?: string;
}

export interface Policy {
  tiers: Record<string, TierRule>;
  deployers: Record<string, DeployerSpec>;
  rules: PolicyRule[];
  /** The environments requests may name: `environments:`, else those the rules name (or match by a glob). */
  environments: KnownNames;
  /** The services requests may name: `services:`, else any (the rules' literal names spelled as configured). */
  services: KnownNames;
  git: GitSettings;
  oidc: OidcIssuer[];
  /** The approver page's sessions and sign-in (`auth.ui`). */
  ui: UiSettings;
  /** `notify:`: the channels tiers send to (policy/notify.ts). */
  notify: NotifySettings;
  /** The change calendar: windows in which deploys wait (policy/freezes.ts). */
  freezes: FreezeWindow[];
  /** sha256 of the file's bytes, fixed into every request's rule. */
  hash: string;
}

export class PolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'PolicyError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Checker {
  readonly problems: string[] = [];

  fail(key: string, what: string): undefined {
    this.problems.push(`${key}: ${what}`);
    return undefined;
  }

  keys(key: string, value: Obj, allowed: string[]): void {
    for (const name of Object.keys(value)) {
      if (!allowed.includes(name)) {
        this.fail(`${key}.${name}`, `unknown key; expected one of ${allowed.join(', ')}`);
      }
    }
  }

  object(key: string, value: unknown): Obj | undefined {
    return isObj(value) ? value : this.fail(key, `must be a mapping, got ${describe(value)}`);
  }

  string(key: string, value: unknown): string | undefined {
    return typeof value === 'string' && value.trim() !== ''
      ? value
      : this.fail(key, `must be a non-empty string, got ${describe(value)}`);
  }

  strings(key: string, value: unknown): string[] | undefined {
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
      return this.fail(key, `must be a list of non-empty strings, got ${describe(value)}`);
    }
    return value as string[];
  }

  /** Absent is undefined; anything but true or false is a problem. */
  boolean(key: string, value: unknown): boolean | undefined {
    if (value === undefined || typeof value === 'boolean') return value;
    return this.fail(key, `must be true or false, got ${describe(value)}`);
  }

  duration(key: string, value: unknown): number | undefined {
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    return ms ?? this.fail(key, `must be a duration such as 30s, 15m, 24h or 7d, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

/** `${NAME}` in any string is replaced by that environment variable. */
function substitute(value: unknown, env: Record<string, string | undefined>, key: string, check: Checker): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined) check.fail(key, `refers to environment variable ${name}, which is not set`);
      return found ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, `${key}[${i}]`, check));
  if (isObj(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, substitute(v, env, key ? `${key}.${k}` : k, check)]),
    );
  }
  return value;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function validatePolicy(
  raw: unknown,
  hash: string,
  env: Record<string, string | undefined> = {},
): Policy {
  const check = new Checker();
  const root = check.object('(top level)', substitute(raw, env, '', check));
  if (!root) throw new PolicyError(check.problems);
  check.keys('(top level)', root, ['tiers', 'deployers', 'rules', 'environments', 'services', 'git', 'auth', 'notify', 'freezes']);
  const notify = validateNotifySection(check, root.notify);

  const tiers: Record<string, TierRule> = {};
  const tierMap = check.object('tiers', root.tiers);
  if (tierMap && Object.keys(tierMap).length === 0) check.fail('tiers', 'must name at least one tier');
  for (const [name, value] of Object.entries(tierMap ?? {})) {
    const key = `tiers.${name}`;
    if (!NAME.test(name)) check.fail(key, 'tier names are letters, digits, ".", "_" and "-"');
    const tier = check.object(key, value);
    if (!tier) continue;
    check.keys(key, tier, ['approvals', 'requiredGroups', 'eligibleGroups', 'expiresAfter', 'notify', 'remindEvery', 'escalateAfter', 'escalateTo', 'supersede']);
    const supersede = check.boolean(`${key}.supersede`, tier.supersede);
    const approvals = tier.approvals;
    if (!Number.isInteger(approvals) || (approvals as number) < 1 || (approvals as number) > 50) {
      check.fail(`${key}.approvals`, `must be a whole number from 1 to 50, got ${describe(approvals)}`);
    }
    const requiredGroups = check.strings(`${key}.requiredGroups`, tier.requiredGroups) ?? [];
    const eligibleGroups = check.strings(`${key}.eligibleGroups`, tier.eligibleGroups) ?? [];
    const expiresAfterMs = check.duration(`${key}.expiresAfter`, tier.expiresAfter) ?? 0;
    if (eligibleGroups.length > 0) {
      for (const group of requiredGroups) {
        if (!eligibleGroups.includes(group)) {
          check.fail(`${key}.requiredGroups`, `${group} is required but not in eligibleGroups, so no approval could ever satisfy it`);
        }
      }
    }
    if (typeof approvals === 'number' && requiredGroups.length > approvals) {
      check.fail(`${key}.approvals`, `is ${approvals} but ${requiredGroups.length} groups are required; raise approvals to at least ${requiredGroups.length}`);
    }
    const notifyRule = validateTierNotify(check, key, tier, notify, expiresAfterMs);
    tiers[name] = {
      tier: name, approvals: approvals as number, requiredGroups, eligibleGroups, expiresAfterMs,
      ...(notifyRule ? { notify: notifyRule } : {}), ...(supersede ? { supersede } : {}),
    };
  }

  const deployers: Record<string, DeployerSpec> = { log: { name: 'log', type: 'log' } };
  const deployerMap = root.deployers === undefined ? {} : check.object('deployers', root.deployers);
  for (const [name, value] of Object.entries(deployerMap ?? {})) {
    const key = `deployers.${name}`;
    const spec = check.object(key, value);
    if (!spec) continue;
    if (spec.type === 'log') {
      check.keys(key, spec, ['type']);
      deployers[name] = { name, type: 'log' };
    } else if (spec.type === 'command') {
      check.keys(key, spec, ['type', 'run']);
      const run = check.strings(`${key}.run`, spec.run);
      if (run && run.length === 0) check.fail(`${key}.run`, 'must name the command to run, e.g. ["./deploy.sh"]');
      if (run?.length) deployers[name] = { name, type: 'command', run };
    } else if (spec.type === 'webhook') {
      check.keys(key, spec, ['type', 'url', 'secret']);
      const url = check.string(`${key}.url`, spec.url);
      if (url && !/^https?:\/\/[^\s]+$/.test(url)) check.fail(`${key}.url`, `must be an http(s) URL, got ${JSON.stringify(url)}`);
      const secret = spec.secret === undefined ? undefined : check.string(`${key}.secret`, spec.secret);
      if (url) deployers[name] = { name, type: 'webhook', url, secret };
    } else {
      check.fail(`${key}.type`, `must be one of command, webhook, log; got ${describe(spec.type)}`);
    }
  }

  const rules: PolicyRule[] = [];
  if (!Array.isArray(root.rules) || root.rules.length === 0) {
    check.fail('rules', 'must be a list of at least one rule, e.g. - { tier: low }');
  }
  (Array.isArray(root.rules) ? root.rules : []).forEach((value, index) => {
    const key = `rules[${index}]`;
    const rule = check.object(key, value);
    if (!rule) return;
    check.keys(key, rule, ['service', 'environment', 'tier', 'deployer', 'supersede']);
    const supersede = check.boolean(`${key}.supersede`, rule.supersede);
    const service = rule.service === undefined ? '*' : check.string(`${key}.service`, rule.service);
    const environment = rule.environment === undefined ? '*' : check.string(`${key}.environment`, rule.environment);
    const tier = check.string(`${key}.tier`, rule.tier);
    // Own keys only: `constructor` or `toString` must not pass for a tier or a deployer.
    if (tier && !Object.hasOwn(tiers, tier) && !(tierMap && Object.hasOwn(tierMap, tier))) {
      check.fail(`${key}.tier`, `names tier ${tier}, which tiers does not define`);
    }
    const deployer = rule.deployer === undefined ? 'log' : check.string(`${key}.deployer`, rule.deployer);
    if (deployer && !Object.hasOwn(deployers, deployer) && !(deployerMap && Object.hasOwn(deployerMap, deployer))) {
      check.fail(`${key}.deployer`, `names deployer ${deployer}, which deployers does not define`);
    }
    if (service && environment && tier && deployer) rules.push({ service, environment, tier, deployer, ...(supersede !== undefined ? { supersede } : {}) });
  });

  hiddenRules(check, rules);
  const environments = knownNames(check, 'environments', 'environment', root.environments, rules);
  const services = knownNames(check, 'services', 'service', root.services, rules);

  const git: GitSettings = {
    tagFormat: 'deploy/{environment}/{id}',
    approveTagFormat: 'approve/{environment}/*',
    requestTagFormat: 'request/{environment}/*',
  };
  if (root.git !== undefined) {
    const section = check.object('git', root.git);
    if (section) {
      check.keys('git', section, ['repo', 'tagFormat', 'approveTagFormat', 'requestTagFormat', 'webhookSecret']);
      for (const name of ['repo', 'tagFormat', 'approveTagFormat', 'requestTagFormat', 'webhookSecret'] as const) {
        if (section[name] !== undefined) {
          const value = check.string(`git.${name}`, section[name]);
          if (value) git[name] = value;
        }
      }
    }
  }

  const oidc: OidcIssuer[] = [];
  let ui = uiSettings(check, undefined);
  if (root.auth !== undefined) {
    const auth = check.object('auth', root.auth);
    if (auth) {
      check.keys('auth', auth, ['oidc', 'ui']);
      ui = uiSettings(check, auth.ui);
      const list = auth.oidc === undefined ? [] : auth.oidc;
      if (!Array.isArray(list)) check.fail('auth.oidc', 'must be a list of issuers');
      (Array.isArray(list) ? list : []).forEach((value, index) => {
        const key = `auth.oidc[${index}]`;
        const entry = check.object(key, value);
        if (!entry) return;
        check.keys(key, entry, ['issuer', 'audience', 'jwksUrl', 'principalClaim']);
        const issuer = check.string(`${key}.issuer`, entry.issuer);
        const audience = check.string(`${key}.audience`, entry.audience);
        const jwksUrl = check.string(`${key}.jwksUrl`, entry.jwksUrl);
        const principalClaim = entry.principalClaim === undefined ? 'sub' : check.string(`${key}.principalClaim`, entry.principalClaim);
        if (issuer && audience && jwksUrl && principalClaim) oidc.push({ issuer, audience, jwksUrl, principalClaim });
      });
    }
  }

  const freezes = freezeWindows(check, root.freezes, environments);

  if (check.problems.length > 0) throw new PolicyError(check.problems);
  return { tiers, deployers, rules, environments, services, git, oidc, ui, notify, freezes, hash };
}

const HTTP_URL = /^https?:\/\/[^\s]+$/;

/** `auth.ui`: every key optional; an OIDC provider needs at least its issuer and client id. */
function uiSettings(check: Checker, raw: unknown): UiSettings {
  const ui: UiSettings = { sessionIdleMs: 30 * 60_000, sessionMaxAgeMs: 12 * 3_600_000, trustedProxies: [] };
  if (raw === undefined) return ui;
  const section = check.object('auth.ui', raw);
  if (!section) return ui;
  check.keys('auth.ui', section, ['sessionIdle', 'sessionMaxAge', 'trustedProxies', 'oidc']);
  if (section.sessionIdle !== undefined) ui.sessionIdleMs = check.duration('auth.ui.sessionIdle', section.sessionIdle) ?? ui.sessionIdleMs;
  if (section.sessionMaxAge !== undefined) ui.sessionMaxAgeMs = check.duration('auth.ui.sessionMaxAge', section.sessionMaxAge) ?? ui.sessionMaxAgeMs;
  if (ui.sessionIdleMs > ui.sessionMaxAgeMs) check.fail('auth.ui.sessionIdle', 'must not be longer than auth.ui.sessionMaxAge');
  ui.trustedProxies = check.strings('auth.ui.trustedProxies', section.trustedProxies) ?? [];
  if (section.oidc !== undefined) {
    const key = 'auth.ui.oidc';
    const entry = check.object(key, section.oidc);
    if (entry) {
      const urls = ['authorizationEndpoint', 'tokenEndpoint', 'jwksUrl', 'redirectUrl'] as const;
      check.keys(key, entry, ['issuer', 'clientId', 'clientSecret', ...urls, 'principalClaim', 'scopes', 'label']);
      const issuer = check.string(`${key}.issuer`, entry.issuer);
      const clientId = check.string(`${key}.clientId`, entry.clientId);
      if (issuer && !HTTP_URL.test(issuer)) check.fail(`${key}.issuer`, `must be an http(s) URL, got ${JSON.stringify(issuer)}`);
      const provider: Partial<UiOidcProvider> = { issuer, clientId };
      if (entry.clientSecret !== undefined) provider.clientSecret = check.string(`${key}.clientSecret`, entry.clientSecret);
      for (const name of urls) {
        if (entry[name] === undefined) continue;
        const value = check.string(`${key}.${name}`, entry[name]);
        if (value && !HTTP_URL.test(value)) check.fail(`${key}.${name}`, `must be an http(s) URL, got ${JSON.stringify(value)}`);
        provider[name] = value;
      }
      provider.principalClaim = entry.principalClaim === undefined ? 'sub' : check.string(`${key}.principalClaim`, entry.principalClaim);
      const scopes = check.strings(`${key}.scopes`, entry.scopes) ?? [];
      provider.scopes = scopes.includes('openid') ? scopes : ['openid', ...scopes];
      provider.label = entry.label === undefined ? 'Sign in with single sign-on' : check.string(`${key}.label`, entry.label);
      if (issuer && clientId && provider.principalClaim && provider.label) ui.oidc = provider as UiOidcProvider;
    }
  }
  return ui;
}

/**
 * Reads `environments:` (or `services:`): a list of names, `"*"` among them allowing names
 * outside it. Refuses two spellings of one canonical name anywhere in the list or the rules
 * (a reader could not tell which is meant), names without letters or digits, and rules naming
 * a name the list leaves out.
 */
function knownNames(
  check: Checker,
  key: 'environments' | 'services',
  field: 'environment' | 'service',
  value: unknown,
  rules: PolicyRule[],
): KnownNames {
  const parsed = value === undefined ? [] : check.strings(key, value);
  // An unreadable list is reported once; the rules are then not checked against it.
  const listed = value !== undefined && parsed !== undefined;
  const list = parsed ?? [];
  if (listed && list.length === 0) {
    check.fail(key, `must list at least one ${field}, or "*" to allow any`);
  }
  const names: string[] = [];
  const patterns: string[] = [];
  const seen = new Map<string, { spelling: string; where: string }>();
  const note = (where: string, spelling: string, canonical: string) => {
    const earlier = seen.get(canonical);
    if (!earlier) {
      seen.set(canonical, { spelling, where });
    } else if (earlier.spelling !== spelling) {
      check.fail(where,
        `${JSON.stringify(spelling)} and ${JSON.stringify(earlier.spelling)} (${earlier.where}) are the same ${field} compared ` +
          'canonically (case, spaces, punctuation and Unicode form do not count); spell it one way');
    }
  };
  list.forEach((name, index) => {
    const where = `${key}[${index}]`;
    if (name === '*') return;
    if (isGlob(name)) {
      check.fail(where, `lists names, not globs; got ${JSON.stringify(name)}. Add "*" alone to allow ${key} the list leaves out`);
      return;
    }
    const canonical = canonicalName(name);
    if (canonical === '') {
      check.fail(where, `${JSON.stringify(name)} has no letters or digits, so no request could name it`);
      return;
    }
    note(where, name, canonical);
    if (!names.includes(name)) names.push(name);
  });
  rules.forEach((rule, index) => {
    const pattern = rule[field];
    const where = `rules[${index}].${field}`;
    const canonical = canonicalGlob(pattern);
    if (canonical.replace(/[*?]/g, '') === '' && pattern.replace(/[*?]/g, '') !== '') {
      check.fail(where, `${JSON.stringify(pattern)} has no letters or digits outside its wildcards, so it would match any ${field}; write "*" for that`);
      return;
    }
    if (/^\*+$/.test(pattern)) return;
    note(where, pattern, canonical);
    if (isGlob(pattern)) {
      if (!listed && !patterns.includes(pattern)) patterns.push(pattern);
      return;
    }
    if (listed) {
      if (!list.some((name) => name !== '*' && canonicalName(name) === canonical)) {
        check.fail(where, `names ${field} ${pattern}, which ${key} does not list (${list.join(', ')}); add it there`);
      }
    } else if (!names.includes(pattern)) {
      names.push(pattern);
    }
  });
  const allowUnknown = list.includes('*') || (field === 'service' ? !listed : names.length === 0);
  return { names, patterns: allowUnknown ? [] : patterns, allowUnknown, listed };
}

/**
 * Refuses a rule that canonical comparison hides behind an earlier one which, compared letter
 * for letter, did not match it: with `web-*` first, `webhooks` is `web-hooks` and would quietly
 * take the earlier rule's tier. The author must say which rule is meant by ordering them.
 */
function hiddenRules(check: Checker, rules: PolicyRule[]): void {
  const fieldCovers = (pattern: string, name: string, matches: (p: string, n: string) => boolean) =>
    /^\*+$/.test(pattern) || (!isGlob(name) && matches(pattern, name));
  const covers = (earlier: PolicyRule, later: PolicyRule, matches: (p: string, n: string) => boolean) =>
    fieldCovers(earlier.service, later.service, matches) && fieldCovers(earlier.environment, later.environment, matches);
  rules.forEach((later, j) => {
    const i = rules.slice(0, j).findIndex((earlier) => covers(earlier, later, nameMatches) && !covers(earlier, later, globMatches));
    if (i < 0) return;
    const earlier = rules[i];
    check.fail(`rules[${j}]`,
      `rules[${i}] (service ${earlier.service}, environment ${earlier.environment}) matches every request this rule names ` +
        `(service ${later.service}, environment ${later.environment}), because names are compared canonically (case, spaces, ` +
        `punctuation and Unicode form do not count); put rules[${j}] before rules[${i}], or narrow rules[${i}]`);
  });
}

export class NameError extends Error {
  constructor(
    readonly kind: 'environment' | 'service',
    readonly known: string[],
    detail: string,
  ) {
    super(detail);
  }
}

/**
 * The request's service and environment as the policy spells them. A name that equals a known
 * one canonically takes its configured spelling; an environment (or a listed service) the
 * policy does not know is refused unless the policy allows unknown names.
 */
export function resolveRequestNames(
  policy: Policy,
  requested: { service: string; environment: string },
): { service: string; environment: string } {
  const environment = resolveName('environment', requested.environment, policy.environments);
  if (!environment.ok) throw new NameError('environment', policy.environments.names, environment.detail);
  const service = resolveName('service', requested.service, policy.services);
  if (!service.ok) throw new NameError('service', policy.services.names, service.detail);
  return { service: service.name, environment: environment.name };
}

export class RuleError extends Error {}

function atLeastAsStrict(a: TierRule, b: TierRule): boolean {
  return (
    a.approvals >= b.approvals &&
    b.requiredGroups.every((group) => a.requiredGroups.includes(group)) &&
    (b.eligibleGroups.length === 0 ||
      (a.eligibleGroups.length > 0 && a.eligibleGroups.every((group) => b.eligibleGroups.includes(group)))) &&
    a.expiresAfterMs <= b.expiresAfterMs
  );
}

/** The stricter of two rules on every axis, for a `minimumTier` the policy tier does not cover. */
function strictest(a: TierRule, b: TierRule): TierRule {
  const eligible =
    a.eligibleGroups.length === 0
      ? b.eligibleGroups
      : b.eligibleGroups.length === 0
        ? a.eligibleGroups
        : a.eligibleGroups.filter((group) => b.eligibleGroups.includes(group));
  return {
    tier: `${a.tier}+${b.tier}`,
    approvals: Math.max(a.approvals, b.approvals),
    requiredGroups: [...new Set([...a.requiredGroups, ...b.requiredGroups])],
    eligibleGroups: eligible,
    expiresAfterMs: Math.min(a.expiresAfterMs, b.expiresAfterMs),
    // The policy's own tier says who is told; the stricter one when it says nothing.
    ...(a.notify ?? b.notify ? { notify: a.notify ?? b.notify } : {}),
  };
}

/**
 * The rule for a request: the first policy rule that matches, made stricter (never laxer) by
 * the request's `minimumTier`.
 */
export function resolveRule(
  policy: Policy,
  service: string,
  environment: string,
  minimumTier?: string,
): AppliedRule {
  const ruleIndex = policy.rules.findIndex(
    (rule) => nameMatches(rule.service, service) && nameMatches(rule.environment, environment),
  );
  if (ruleIndex < 0) {
    throw new RuleError(
      `no rule of the policy matches service ${service} in environment ${environment}; ask an admin to add one`,
    );
  }
  const matched = policy.rules[ruleIndex];
  let tier = policy.tiers[matched.tier];
  if (minimumTier !== undefined) {
    const asked = Object.hasOwn(policy.tiers, minimumTier) ? policy.tiers[minimumTier] : undefined;
    if (!asked) {
      throw new RuleError(
        `minimumTier ${minimumTier} is not a tier of the policy; known tiers: ${Object.keys(policy.tiers).join(', ')}`,
      );
    }
    if (!atLeastAsStrict(tier, asked)) {
      tier = atLeastAsStrict(asked, tier) ? asked : strictest(tier, asked);
      if (eligibleIsEmptyIntersection(policy.tiers[matched.tier], asked)) {
        throw new RuleError(
          `minimumTier ${minimumTier} and the policy's tier ${matched.tier} admit no common approvers; choose another tier`,
        );
      }
    }
  }
  // Whether newer requests supersede this one is the policy's own rule or tier, never minimumTier's.
  const supersede = matched.supersede ?? policy.tiers[matched.tier].supersede ?? false;
  const { supersede: _tierSupersede, ...tierRule } = tier;
  return {
    ...tierRule,
    ...(supersede ? { supersede: true } : {}),
    deployer: matched.deployer,
    policyHash: policy.hash,
    ruleIndex,
    ...(policy.git.repo ? { git: { repo: policy.git.repo, tagFormat: policy.git.tagFormat } } : {}),
  };
}

function eligibleIsEmptyIntersection(a: TierRule, b: TierRule): boolean {
  return (
    a.eligibleGroups.length > 0 &&
    b.eligibleGroups.length > 0 &&
    !a.eligibleGroups.some((group) => b.eligibleGroups.includes(group))
  );
}

/** At most this many windows: the calendar is read before every deploy. */
export const MAX_FREEZES = 200;
const FREEZE_KEYS = ['name', 'environment', 'service', 'reason', 'from', 'until', 'cron', 'duration', 'weekly', 'timeZone'];
/** A recurring window lasts at most this long: longer is a one-off window. */
const MAX_RECURRING_MS = 366 * 86_400_000;

/**
 * Reads `freezes:`, the change calendar. Each window names an environment (a glob, or `*`),
 * optionally a service glob, a reason, and one schedule: one-off (`from` and `until`, instants
 * with an offset), `cron` with a `duration`, or `weekly` (`{ from: "Fri 16:00", until: "Mon
 * 08:00" }`); the recurring ones in an IANA `timeZone`.
 */
function freezeWindows(check: Checker, value: unknown, environments: KnownNames): FreezeWindow[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    check.fail('freezes', `must be a list of windows, e.g. - { environment: production, from: "2026-12-20T00:00:00+01:00", until: "2027-01-04T00:00:00+01:00", reason: "year end" }; got ${describe(value)}`);
    return [];
  }
  if (value.length > MAX_FREEZES) check.fail('freezes', `lists ${value.length} windows; at most ${MAX_FREEZES}`);
  const windows: FreezeWindow[] = [];
  const names = new Map<string, string>();
  value.slice(0, MAX_FREEZES).forEach((entry, index) => {
    const key = `freezes[${index}]`;
    const spec = check.object(key, entry);
    if (!spec) return;
    check.keys(key, spec, FREEZE_KEYS);
    const name = spec.name === undefined ? key : check.string(`${key}.name`, spec.name);
    if (name !== undefined && spec.name !== undefined && !NAME.test(name)) check.fail(`${key}.name`, 'window names are letters, digits, ".", "_" and "-"');
    if (name !== undefined) {
      const earlier = names.get(name);
      if (earlier) check.fail(`${key}.name`, `${JSON.stringify(name)} already names ${earlier}; give each window its own name`);
      names.set(name, key);
    }
    const environment = check.string(`${key}.environment`, spec.environment);
    if (environment !== undefined) freezeNameCheck(check, `${key}.environment`, environment, environments);
    const service = spec.service === undefined ? '*' : check.string(`${key}.service`, spec.service);
    if (service !== undefined && canonicalGlob(service).replace(/[*?]/g, '') === '' && !/^\*+$/.test(service)) {
      check.fail(`${key}.service`, `${JSON.stringify(service)} has no letters or digits outside its wildcards; write "*" for every service`);
    }
    const reason = check.string(`${key}.reason`, spec.reason);
    if (reason !== undefined && (reason.length > 500 || /[\u0000-\u001f\u007f]/.test(reason))) {
      check.fail(`${key}.reason`, 'must be one line of at most 500 characters');
    }
    const schedule = freezeSchedule(check, key, spec);
    if (name && environment && service && reason && schedule) {
      const source = Object.fromEntries(['from', 'until', 'cron', 'duration', 'weekly', 'timeZone'].filter((k) => spec[k] !== undefined).map((k) => [k, spec[k]]));
      windows.push({ name, environment, service, reason, schedule, source });
    }
  });
  return windows;
}

/** A literal environment must be one the policy knows: a typo would freeze nothing. */
function freezeNameCheck(check: Checker, key: string, environment: string, known: KnownNames): void {
  if (/^\*+$/.test(environment)) return;
  if (canonicalGlob(environment).replace(/[*?]/g, '') === '') {
    check.fail(key, `${JSON.stringify(environment)} has no letters or digits outside its wildcards; write "*" for every environment`);
    return;
  }
  if (isGlob(environment) || known.allowUnknown) return;
  if (!resolveName('environment', environment, known).ok) {
    check.fail(key, `names environment ${environment}, which the policy does not know (${known.names.join(', ')}); a window for it would freeze nothing`);
  }
}

function freezeSchedule(check: Checker, key: string, spec: Obj): FreezeSchedule | undefined {
  const kinds = [
    spec.from !== undefined || spec.until !== undefined ? 'from/until' : undefined,
    spec.cron !== undefined ? 'cron' : undefined,
    spec.weekly !== undefined ? 'weekly' : undefined,
  ].filter(Boolean);
  if (kinds.length !== 1) {
    return check.fail(key, kinds.length === 0
      ? 'needs a schedule: from and until (one-off), cron with duration, or weekly { from, until }'
      : `has ${kinds.join(' and ')}; give one schedule per window`);
  }
  if (kinds[0] === 'from/until') {
    if (spec.timeZone !== undefined) check.fail(`${key}.timeZone`, 'applies to cron and weekly windows; a one-off window\'s from and until carry their own offset');
    if (spec.duration !== undefined) check.fail(`${key}.duration`, 'applies to cron windows; a one-off window has from and until');
    const instant = (field: 'from' | 'until') => {
      const text = spec[field];
      const ms = typeof text === 'string' ? parseInstant(text) : text instanceof Date ? text.getTime() : undefined;
      return ms ?? check.fail(`${key}.${field}`, `must be an ISO 8601 time with an offset, such as "2026-12-20T00:00:00+01:00" or "2026-12-19T23:00:00Z"; got ${describe(text)}`);
    };
    const from = instant('from');
    const until = instant('until');
    if (from === undefined || until === undefined) return undefined;
    if (until <= from) return check.fail(`${key}.until`, `must be after from (${new Date(from).toISOString()})`);
    return { kind: 'once', from, until };
  }
  const timeZone = check.string(`${key}.timeZone`, spec.timeZone);
  if (timeZone !== undefined && !isTimeZone(timeZone)) {
    check.fail(`${key}.timeZone`, `${JSON.stringify(timeZone)} is not an IANA time zone such as Europe/Berlin, America/New_York or UTC`);
    return undefined;
  }
  if (kinds[0] === 'cron') {
    const cron = check.string(`${key}.cron`, spec.cron);
    const durationMs = check.duration(`${key}.duration`, spec.duration);
    if (durationMs !== undefined && durationMs > MAX_RECURRING_MS) check.fail(`${key}.duration`, 'a recurring window lasts at most 366d; use from and until for longer');
    if (cron === undefined || durationMs === undefined || timeZone === undefined) return undefined;
    const problem = cronProblem(cron, timeZone);
    if (problem) return check.fail(`${key}.cron`, `${JSON.stringify(cron)} is not a usable cron pattern (${problem}); e.g. "0 22 * * *" for 22:00 every day`);
    return { kind: 'cron', cron, durationMs, timeZone };
  }
  if (spec.duration !== undefined) check.fail(`${key}.duration`, 'applies to cron windows; a weekly window has from and until');
  const weekly = check.object(`${key}.weekly`, spec.weekly);
  if (!weekly) return undefined;
  check.keys(`${key}.weekly`, weekly, ['from', 'until']);
  const point = (field: 'from' | 'until') => {
    const parsed = typeof weekly[field] === 'string' ? parseWeeklyPoint(weekly[field] as string) : undefined;
    return parsed ?? check.fail(`${key}.weekly.${field}`, `must be a day and a 24-hour time such as "Fri 16:00"; got ${describe(weekly[field])}`);
  };
  const from = point('from');
  const until = point('until');
  if (!from || !until || !timeZone) return undefined;
  if (from.day === until.day && from.hour === until.hour && from.minute === until.minute) {
    return check.fail(`${key}.weekly.until`, 'is the same as from; a window that never ends is a one-off window with from and until');
  }
  return { kind: 'weekly', from, until, timeZone };
}
