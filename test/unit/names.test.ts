// Environment and service names compared canonically: a spelling that differs from a
// configured name only in case, spaces, punctuation or Unicode form is the same name, so it
// never falls through to a laxer rule; a name the policy does not know is refused.

import { parse } from 'yaml';
import { NameError, PolicyError, resolveRequestNames, resolveRule, validatePolicy } from '../../policy/config';
import { canonicalGlob, canonicalName, nameMatches, resolveName, scopeMatches } from '../../policy/names';

const TIERS = `
tiers:
  low:  { approvals: 1, expiresAfter: 24h }
  high: { approvals: 2, expiresAfter: 24h }
  critical: { approvals: 3, expiresAfter: 8h }
`;
// The issue's example: a strict rule for production, then a catch-all.
const ISSUE_YAML = `${TIERS}
rules:
  - { environment: production, tier: high }
  - { tier: low }
`;
const load = (yaml: string) => validatePolicy(parse(yaml), 'hash');
const problemsOf = (yaml: string): string[] => {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  throw new Error('expected a PolicyError');
};

describe('canonicalName', () => {
  it.each<[string, string]>([
    ['production', 'production'],
    ['Production', 'production'],
    ['PRODUCTION', 'production'],
    ['production.', 'production'],
    ['pro-duction', 'production'],
    ['pro_duction', 'production'],
    [' production ', 'production'],
    ['prod uction', 'production'],
    ['ｐｒｏｄｕｃｔｉｏｎ', 'production'], // fullwidth
    ['ＰＲＯＤＵＣＴＩＯＮ', 'production'],
    ['pro\u200Bduction', 'production'], // zero-width space
    ['pro\u00ADduction', 'production'], // soft hyphen
    ['pro\u200Dduc\u2060tion', 'production'], // joiners
    ['prod\u3164uction', 'production'], // Hangul filler: a default-ignorable letter
    ['\uFEFFproduction', 'production'], // byte order mark
    ['production\u0000', 'production'],
    ['ℙroduction', 'production'], // double-struck capital P (compatibility form)
    ['STRASSE', 'strasse'],
    ['straße', 'strasse'], // full case folding
    ['pay-api', 'payapi'],
    ['Pay_API', 'payapi'],
    ['eu-west-1', 'euwest1'],
    ['①', '1'],
    ['café', 'café'],
    ['cafe\u0301', 'café'], // decomposed é composes
    ['...', ''],
  ])('%p keys to %p', (name, key) => {
    expect(canonicalName(name)).toBe(key);
  });

  it('keeps names apart that differ in letters or digits', () => {
    expect(canonicalName('production')).not.toBe(canonicalName('production2'));
    expect(canonicalName('prod')).not.toBe(canonicalName('production'));
    expect(canonicalName('eu-west-1')).not.toBe(canonicalName('eu-west-2'));
  });
});

describe('nameMatches: rule globs match canonically', () => {
  it.each<[string, string, boolean]>([
    ['production', 'Production', true],
    ['production', 'PRODUCTION', true],
    ['production', 'production.', true],
    ['production', 'ｐｒｏｄｕｃｔｉｏｎ', true],
    ['Production', 'production', true],
    ['production', 'production-eu', false],
    ['production', 'prod', false],
    ['pay-*', 'pay-api', true],
    ['pay-*', 'PAY-api', true],
    ['pay-*', 'Pay_API', true],
    ['pay-*', 'payapi', true],
    ['pay-*', 'pay', true],
    ['pay-*', 'apay-api', false],
    ['*-api', 'PAY.API', true],
    ['db-?', 'DB-1', true],
    ['db-?', 'db-12', false],
    ['db-?', 'db', false],
    ['*', 'anything at all', true],
    ['prod*', 'Prod-EU', true],
    ['a.b', 'aXb', false], // `.` is punctuation, not a regular-expression wildcard
    ['a+', 'aaa', false],
  ])('%p matches %p: %s', (pattern, name, expected) => {
    expect(nameMatches(pattern, name)).toBe(expected);
  });

  it('canonicalises only the literal parts of a glob', () => {
    expect(canonicalGlob('Pay-*')).toBe('pay*');
    expect(canonicalGlob('*-API-?')).toBe('*api?');
  });
});

describe('scopeMatches: a pipeline scope covers other spellings, never other names', () => {
  it.each<[string, string, boolean]>([
    ['production', 'production', true],
    ['production', 'PRODUCTION', true],
    ['Production', 'production', true],
    ['production', 'production.', true],
    ['production', 'ｐｒｏｄｕｃｔｉｏｎ', true],
    ['production', 'production-eu', false],
    ['web-*', 'web-api', true],
    ['web-*', 'WEB_API', true],
    ['web-*', 'Web.Api', true],
    ['web-*', 'webhooks', false], // one name to the rules, but the scope's author wrote the separator
    ['web-*', 'old-web-api', false],
    ['*', 'anything', true],
    ['*-staging', 'eu_staging', true],
    ['*-staging', 'preprodstaging', false],
  ])('scope %p covers %p: %s', (pattern, name, expected) => {
    expect(scopeMatches(pattern, name)).toBe(expected);
  });
});

describe('resolveRule: a tier by spelling never falls through to a laxer rule', () => {
  const policy = load(ISSUE_YAML);

  it.each(['production', 'Production', 'PRODUCTION', 'production.', ' production', 'pro-duction', 'ｐｒｏｄｕｃｔｉｏｎ', 'produc\u200Btion'])(
    '%p gets tier high, not the catch-all low',
    (environment) => {
      expect(resolveRule(policy, 'web', environment)).toMatchObject({ tier: 'high', ruleIndex: 0 });
    },
  );

  it('a service spelled differently still meets its glob rule', () => {
    const services = load(`${TIERS}
rules:
  - { service: "pay-*", tier: critical }
  - { tier: low }
`);
    for (const service of ['pay-api', 'PAY-API', 'Pay_Api', 'pay.api', 'ｐａｙ－ａｐｉ']) {
      expect(resolveRule(services, service, 'staging')).toMatchObject({ tier: 'critical', ruleIndex: 0 });
    }
  });
});

describe('resolveRequestNames: requests take the configured spelling, unknown environments are refused', () => {
  it.each(['production', 'Production', 'PRODUCTION', 'production.', 'ｐｒｏｄｕｃｔｉｏｎ'])(
    'resolves %p to the configured spelling production',
    (environment) => {
      expect(resolveRequestNames(load(ISSUE_YAML), { service: 'web', environment })).toEqual({ service: 'web', environment: 'production' });
    },
  );

  it('refuses an environment the rules do not name, listing the known ones', () => {
    const policy = load(ISSUE_YAML);
    expect(policy.environments).toEqual({ names: ['production'], patterns: [], allowUnknown: false, listed: false });
    let error: unknown;
    try {
      resolveRequestNames(policy, { service: 'web', environment: 'prod' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(NameError);
    expect((error as NameError).kind).toBe('environment');
    expect((error as NameError).known).toEqual(['production']);
    expect((error as NameError).message).toContain('known environments: production');
    expect((error as NameError).message).toContain('"*"');
  });

  it('takes environments from environments: when listed, refusing others', () => {
    const policy = load(`${TIERS}
environments: [production, staging, eu-west-1]
rules:
  - { environment: production, tier: high }
  - { tier: low }
`);
    expect(resolveRequestNames(policy, { service: 'web', environment: 'STAGING' }).environment).toBe('staging');
    expect(resolveRequestNames(policy, { service: 'web', environment: 'EU_WEST_1' }).environment).toBe('eu-west-1');
    expect(() => resolveRequestNames(policy, { service: 'web', environment: 'dev' })).toThrow(/known environments: production, staging, eu-west-1/);
  });

  it('allows names outside environments: when it lists "*", still resolving known spellings', () => {
    const policy = load(`${TIERS}
environments: [production, "*"]
rules:
  - { environment: production, tier: high }
  - { tier: low }
`);
    expect(resolveRequestNames(policy, { service: 'web', environment: 'sandbox-7' }).environment).toBe('sandbox-7');
    expect(resolveRequestNames(policy, { service: 'web', environment: 'PRODUCTION' }).environment).toBe('production');
    expect(resolveRule(policy, 'web', 'PRODUCTION')).toMatchObject({ tier: 'high' });
  });

  it('knows the names a rule\'s glob matches, taken as given, when environments: is not listed', () => {
    const policy = load(`${TIERS}
rules:
  - { environment: "prod-*", tier: critical }
  - { environment: staging, tier: low }
  - { tier: low }
`);
    expect(resolveRequestNames(policy, { service: 'web', environment: 'prod-eu' }).environment).toBe('prod-eu');
    expect(resolveRule(policy, 'web', 'PROD_EU')).toMatchObject({ tier: 'critical' });
    expect(resolveRequestNames(policy, { service: 'web', environment: 'Staging' }).environment).toBe('staging');
    expect(() => resolveRequestNames(policy, { service: 'web', environment: 'dev' })).toThrow(
      /known environments: staging \(and names matching prod-\*\)/,
    );
  });

  it('allows any environment when the policy names none', () => {
    const policy = load(`${TIERS}
rules:
  - { service: "pay-*", tier: high }
  - { tier: low }
`);
    expect(policy.environments.allowUnknown).toBe(true);
    expect(resolveRequestNames(policy, { service: 'web', environment: 'anything' }).environment).toBe('anything');
  });

  it('allows any service without services:, spelled as the rules spell it', () => {
    const policy = load(`${TIERS}
rules:
  - { service: payments-api, environment: production, tier: high }
  - { tier: low }
`);
    expect(resolveRequestNames(policy, { service: 'Payments_API', environment: 'production' }).service).toBe('payments-api');
    expect(resolveRequestNames(policy, { service: 'web', environment: 'production' }).service).toBe('web');
  });

  it('refuses a service outside services: when listed', () => {
    const policy = load(`${TIERS}
services: [payments-api, web]
rules:
  - { service: payments-api, tier: high }
  - { tier: low }
`);
    expect(resolveRequestNames(policy, { service: 'WEB', environment: 'x' }).service).toBe('web');
    expect(() => resolveRequestNames(policy, { service: 'worker', environment: 'x' })).toThrow(/known services: payments-api, web/);
  });

  it('resolveName answers the known spelling, or why not', () => {
    const known = { names: ['production'], patterns: [], allowUnknown: false, listed: true };
    expect(resolveName('environment', 'Production', known)).toEqual({ ok: true, name: 'production' });
    expect(resolveName('environment', '...', known)).toMatchObject({ ok: false });
  });
});

describe('validatePolicy: environments and services', () => {
  it('keeps a rule that an earlier one already hid letter for letter (the first match wins)', () => {
    expect(() => load(`${TIERS}
rules:
  - { tier: low }
  - { service: pay-api, environment: production, tier: high }
`)).not.toThrow();
  });

  it('accepts a specific rule placed before the glob that would hide it', () => {
    const policy = load(`${TIERS}
rules:
  - { service: webhooks, tier: critical }
  - { service: "web-*", tier: low }
  - { tier: low }
`);
    expect(resolveRule(policy, 'WebHooks', 'x')).toMatchObject({ tier: 'critical' });
  });

  it('accepts the CONTRACT.md form, whose environments are the names its rules use', () => {
    const policy = load(ISSUE_YAML);
    expect(policy.services).toEqual({ names: [], patterns: [], allowUnknown: true, listed: false });
  });

  it.each<[string, string, string]>([
    ['two spellings of one environment in the rules', `${TIERS}
rules:
  - { environment: production, tier: high }
  - { environment: Production, tier: low }
`, 'rules[1].environment: "Production" and "production" (rules[0].environment) are the same environment'],
    ['two spellings in environments:', `${TIERS}
environments: [production, PRODUCTION]
rules:
  - { tier: low }
`, 'environments[1]: "PRODUCTION" and "production"'],
    ['a rule spelling a listed environment differently', `${TIERS}
environments: [production]
rules:
  - { environment: "production.", tier: high }
  - { tier: low }
`, 'rules[0].environment: "production." and "production" (environments[0])'],
    ['two spellings of one service glob', `${TIERS}
rules:
  - { service: "pay-*", tier: high }
  - { service: "PAY_*", tier: low }
`, 'rules[1].service: "PAY_*" and "pay-*"'],
    ['two spellings in services:', `${TIERS}
services: [payments-api, payments_api]
rules:
  - { tier: low }
`, 'services[1]'],
    ['a rule naming an environment environments: leaves out', `${TIERS}
environments: [production, staging]
rules:
  - { environment: prod, tier: high }
  - { tier: low }
`, 'rules[0].environment: names environment prod, which environments does not list'],
    ['a rule naming a service services: leaves out', `${TIERS}
services: [web]
rules:
  - { service: api, tier: high }
  - { tier: low }
`, 'rules[0].service: names service api'],
    ['environments: not a list', `${TIERS}
environments: production
rules:
  - { tier: low }
`, 'environments: must be a list'],
    ['an empty environments:', `${TIERS}
environments: []
rules:
  - { tier: low }
`, 'environments: must list at least one environment'],
    ['a glob in environments:', `${TIERS}
environments: ["prod-*"]
rules:
  - { tier: low }
`, 'environments[0]: lists names, not globs'],
    ['a name without letters or digits', `${TIERS}
environments: ["--"]
rules:
  - { tier: low }
`, 'environments[0]: "--" has no letters or digits'],
    ['a rule glob that is only punctuation and wildcards', `${TIERS}
rules:
  - { environment: "*-*", tier: high }
  - { tier: low }
`, 'rules[0].environment: "*-*" has no letters or digits outside its wildcards'],
    ['a rule that canonical comparison hides behind an earlier glob', `${TIERS}
rules:
  - { service: "web-*", tier: low }
  - { service: webhooks, tier: critical }
  - { tier: low }
`, 'rules[1]: rules[0] (service web-*, environment *) matches every request this rule names (service webhooks'],
  ])('refuses %s, naming the key', (_label, yaml, expected) => {
    expect(problemsOf(yaml).join('\n')).toContain(expected);
  });
});
