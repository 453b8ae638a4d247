import { parse } from 'yaml';
import { Policy, PolicyError, resolveRule, RuleError, validatePolicy } from '../../policy/config';
import type { TierRule } from '../../policy/types';


// Verbatim from CONTRACT.md, "Configuration": this form must be accepted.
const CONTRACT_YAML = `
tiers:
  low:      { approvals: 1, expiresAfter: 24h }
  high:     { approvals: 2, expiresAfter: 24h }
  critical: { approvals: 2, requiredGroups: [security], expiresAfter: 8h }
  ops:      { approvals: 1, eligibleGroups: [sre], expiresAfter: 2h }
deployers:
  script: { type: command, run: ["./deploy.sh", "--fast"] }
  argo:   { type: webhook, url: "https://…", secret: "\${ARGO_SECRET}" }
git:
  repo: /path/or/remote.git      # optional: annotated tags record deployments
rules:            # first match wins; service and environment take * globs
  - { service: "pay-*", environment: production, tier: critical, deployer: script }
  - { environment: production, tier: high }
  - { tier: low }
`;

const H = 3_600_000;

describe('validatePolicy: the CONTRACT.md form', () => {
  const policy = validatePolicy(parse(CONTRACT_YAML), 'hash', { ARGO_SECRET: 's' });

  it('keeps the hash', () => expect(policy.hash).toBe('hash'));

  it('reads every tier', () => {
    expect(policy.tiers).toEqual({
      low: { tier: 'low', approvals: 1, requiredGroups: [], eligibleGroups: [], expiresAfterMs: 24 * H },
      high: { tier: 'high', approvals: 2, requiredGroups: [], eligibleGroups: [], expiresAfterMs: 24 * H },
      critical: { tier: 'critical', approvals: 2, requiredGroups: ['security'], eligibleGroups: [], expiresAfterMs: 8 * H },
      ops: { tier: 'ops', approvals: 1, requiredGroups: [], eligibleGroups: ['sre'], expiresAfterMs: 2 * H },
    });
  });

  it('reads the deployers, substitutes ${ARGO_SECRET} and keeps the built-in log deployer', () => {
    expect(policy.deployers).toEqual({
      log: { name: 'log', type: 'log' },
      script: { name: 'script', type: 'command', run: ['./deploy.sh', '--fast'] },
      argo: { name: 'argo', type: 'webhook', url: 'https://…', secret: 's' },
    });
  });

  it('reads the rules in order, with * and log for what they leave out', () => {
    expect(policy.rules).toEqual([
      { service: 'pay-*', environment: 'production', tier: 'critical', deployer: 'script' },
      { service: '*', environment: 'production', tier: 'high', deployer: 'log' },
      { service: '*', environment: '*', tier: 'low', deployer: 'log' },
    ]);
  });

  it('reads git with defaults for the tag formats', () => {
    expect(policy.git).toEqual({
      repo: '/path/or/remote.git',
      tagFormat: 'deploy/{environment}/{id}',
      approveTagFormat: 'approve/{environment}/*',
      requestTagFormat: 'request/{environment}/*',
    });
    expect(policy.oidc).toEqual([]);
  });
});

describe('validatePolicy: accepted variations', () => {
  it.each<[string, Record<string, unknown>]>([
    ['no deployers section', { tiers: { low: { approvals: 1, expiresAfter: '1h' } }, rules: [{ tier: 'low' }] }],
    ['a rule naming the built-in log deployer', { tiers: { low: { approvals: 1, expiresAfter: '1h' } }, rules: [{ tier: 'low', deployer: 'log' }] }],
    ['approvals of 50', { tiers: { big: { approvals: 50, expiresAfter: '7d' } }, rules: [{ tier: 'big' }] }],
    ['requiredGroups inside eligibleGroups', { tiers: { t: { approvals: 1, requiredGroups: ['sre'], eligibleGroups: ['sre', 'dev'], expiresAfter: '30s' } }, rules: [{ tier: 't' }] }],
    ['http webhook', { tiers: { low: { approvals: 1, expiresAfter: '1h' } }, deployers: { hook: { type: 'webhook', url: 'http://localhost:8080/deploy' } }, rules: [{ tier: 'low', deployer: 'hook' }] }],
    ['an oidc issuer', { tiers: { low: { approvals: 1, expiresAfter: '1h' } }, rules: [{ tier: 'low' }], auth: { oidc: [{ issuer: 'https://idp', audience: 'cs', jwksUrl: 'https://idp/jwks' }] } }],
  ])('%s', (_label, raw) => {
    expect(() => validatePolicy(raw, 'h')).not.toThrow();
  });

  it('defaults an oidc principalClaim to sub', () => {
    const policy = validatePolicy(
      { tiers: { low: { approvals: 1, expiresAfter: '1h' } }, rules: [{ tier: 'low' }], auth: { oidc: [{ issuer: 'i', audience: 'a', jwksUrl: 'j' }] } },
      'h',
    );
    expect(policy.oidc).toEqual([{ issuer: 'i', audience: 'a', jwksUrl: 'j', principalClaim: 'sub' }]);
  });
});

describe('validatePolicy: invalid configuration names the key', () => {
  type Raw = Record<string, any>;
  const valid = (): Raw => parse(CONTRACT_YAML);
  const ENV = { ARGO_SECRET: 's' };

  it.each<[string, (raw: Raw) => unknown, string, Record<string, string>?]>([
    ['not a mapping at all', () => ['a list'], '(top level)'],
    ['unknown top-level key', (r) => ({ ...r, tier: {} }), '(top level).tier: unknown key'],
    ['unknown tier key', (r) => { r.tiers.low.approval = 1; return r; }, 'tiers.low.approval: unknown key'],
    ['unknown deployer key', (r) => { r.deployers.script.args = ['x']; return r; }, 'deployers.script.args: unknown key'],
    ['unknown rule key', (r) => { r.rules[1].services = 'x'; return r; }, 'rules[1].services: unknown key'],
    ['unknown git key', (r) => { r.git.remote = 'x'; return r; }, 'git.remote: unknown key'],
    ['tiers missing', (r) => { delete r.tiers; return r; }, 'tiers: must be a mapping'],
    ['no tiers', (r) => { r.tiers = {}; r.rules = [{ tier: 'x' }]; return r; }, 'tiers: must name at least one tier'],
    ['bad tier name', (r) => { r.tiers['a b'] = { approvals: 1, expiresAfter: '1h' }; return r; }, 'tiers.a b: tier names'],
    ['approvals 0', (r) => { r.tiers.low.approvals = 0; return r; }, 'tiers.low.approvals: must be a whole number'],
    ['approvals negative', (r) => { r.tiers.low.approvals = -1; return r; }, 'tiers.low.approvals'],
    ['approvals not integer', (r) => { r.tiers.high.approvals = 1.5; return r; }, 'tiers.high.approvals: must be a whole number'],
    ['approvals as a string', (r) => { r.tiers.high.approvals = '2'; return r; }, 'tiers.high.approvals'],
    ['approvals missing', (r) => { delete r.tiers.high.approvals; return r; }, 'tiers.high.approvals'],
    ['approvals above 50', (r) => { r.tiers.high.approvals = 51; return r; }, 'tiers.high.approvals'],
    ['fewer approvals than required groups', (r) => { r.tiers.critical.requiredGroups = ['a', 'b', 'c']; return r; }, 'tiers.critical.approvals: is 2 but 3 groups are required'],
    ['bad duration', (r) => { r.tiers.low.expiresAfter = '1w'; return r; }, 'tiers.low.expiresAfter: must be a duration'],
    ['zero duration', (r) => { r.tiers.low.expiresAfter = '0h'; return r; }, 'tiers.low.expiresAfter'],
    ['numeric duration', (r) => { r.tiers.low.expiresAfter = 3600; return r; }, 'tiers.low.expiresAfter'],
    ['missing duration', (r) => { delete r.tiers.ops.expiresAfter; return r; }, 'tiers.ops.expiresAfter'],
    ['requiredGroups not a list', (r) => { r.tiers.critical.requiredGroups = 'security'; return r; }, 'tiers.critical.requiredGroups: must be a list'],
    ['eligibleGroups with an empty name', (r) => { r.tiers.ops.eligibleGroups = ['sre', '']; return r; }, 'tiers.ops.eligibleGroups'],
    ['requiredGroups not in eligibleGroups', (r) => { r.tiers.ops.requiredGroups = ['security']; return r; }, 'tiers.ops.requiredGroups: security is required but not in eligibleGroups'],
    ['rule naming unknown tier', (r) => { r.rules[1].tier = 'hgih'; return r; }, 'rules[1].tier: names tier hgih'],
    ['rule naming a prototype property as tier', (r) => { r.rules[1].tier = 'constructor'; return r; }, 'rules[1].tier: names tier constructor'],
    ['rule without tier', (r) => { delete r.rules[2].tier; return r; }, 'rules[2].tier'],
    ['rule with an empty service', (r) => { r.rules[0].service = ''; return r; }, 'rules[0].service'],
    ['rule not a mapping', (r) => { r.rules[2] = 'low'; return r; }, 'rules[2]: must be a mapping'],
    ['unknown deployer', (r) => { r.rules[0].deployer = 'scirpt'; return r; }, 'rules[0].deployer: names deployer scirpt'],
    ['a prototype property as deployer', (r) => { r.rules[0].deployer = 'toString'; return r; }, 'rules[0].deployer: names deployer toString'],
    ['bad deployer type', (r) => { r.deployers.script.type = 'ssh'; return r; }, 'deployers.script.type: must be one of command, webhook, log'],
    ['deployer without type', (r) => { delete r.deployers.script.type; return r; }, 'deployers.script.type'],
    ['command deployer with empty run', (r) => { r.deployers.script.run = []; return r; }, 'deployers.script.run: must name the command'],
    ['command deployer with run as a string', (r) => { r.deployers.script.run = './deploy.sh'; return r; }, 'deployers.script.run'],
    ['log deployer with extra key', (r) => { r.deployers.quiet = { type: 'log', url: 'x' }; return r; }, 'deployers.quiet.url: unknown key'],
    ['missing env var in ${…}', (r) => r, 'deployers.argo.secret: refers to environment variable ARGO_SECRET, which is not set', {}],
    ['missing env var inside a list', (r) => { r.deployers.script.run = ['./deploy.sh', '${TOKEN}']; return r; }, 'deployers.script.run[1]: refers to environment variable TOKEN'],
    ['webhook url not http', (r) => { r.deployers.argo.url = 'ftp://example.com/hook'; return r; }, 'deployers.argo.url: must be an http(s) URL'],
    ['webhook url without scheme', (r) => { r.deployers.argo.url = 'example.com/hook'; return r; }, 'deployers.argo.url: must be an http(s) URL'],
    ['webhook url with spaces', (r) => { r.deployers.argo.url = 'https://example.com/a hook'; return r; }, 'deployers.argo.url'],
    ['webhook url missing', (r) => { delete r.deployers.argo.url; return r; }, 'deployers.argo.url: must be a non-empty string'],
    ['empty rules', (r) => { r.rules = []; return r; }, 'rules: must be a list of at least one rule'],
    ['rules missing', (r) => { delete r.rules; return r; }, 'rules: must be a list'],
    ['rules not a list', (r) => { r.rules = { tier: 'low' }; return r; }, 'rules: must be a list'],
    ['git not a mapping', (r) => { r.git = 'repo.git'; return r; }, 'git: must be a mapping'],
    ['git repo empty', (r) => { r.git.repo = ''; return r; }, 'git.repo: must be a non-empty string'],
    ['auth.oidc not a list', (r) => ({ ...r, auth: { oidc: {} } }), 'auth.oidc: must be a list'],
    ['oidc issuer without audience', (r) => ({ ...r, auth: { oidc: [{ issuer: 'i', jwksUrl: 'j' }] } }), 'auth.oidc[0].audience'],
  ])('%s', (_label, mutate, key, env = ENV) => {
    const raw = mutate(valid());
    let error: unknown;
    try {
      validatePolicy(raw, 'hash', env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).message).toContain(key);
    expect((error as PolicyError).problems.some((problem) => problem.includes(key))).toBe(true);
  });

  it('reports every problem at once', () => {
    const raw = valid();
    raw.tiers.low.approvals = 0;
    raw.rules[1].tier = 'nope';
    try {
      validatePolicy(raw, 'hash', ENV);
      throw new Error('expected a PolicyError');
    } catch (error) {
      expect(error).toBeInstanceOf(PolicyError);
      expect((error as PolicyError).problems).toEqual([
        expect.stringContaining('tiers.low.approvals'),
        expect.stringContaining('rules[1].tier'),
      ]);
      expect((error as PolicyError).name).toBe('PolicyError');
    }
  });
});

describe('resolveRule', () => {
  const policy: Policy = validatePolicy(
    {
      tiers: {
        low: { approvals: 1, expiresAfter: '24h' },
        high: { approvals: 2, expiresAfter: '24h' },
        critical: { approvals: 2, requiredGroups: ['security'], expiresAfter: '8h' },
        ops: { approvals: 1, eligibleGroups: ['sre'], expiresAfter: '2h' },
        dba: { approvals: 1, eligibleGroups: ['dba'], expiresAfter: '4h' },
        quick: { approvals: 1, expiresAfter: '60m' },
      },
      deployers: { script: { type: 'command', run: ['./deploy.sh'] } },
      rules: [
        { service: 'pay-*', environment: 'production', tier: 'critical', deployer: 'script' },
        { service: 'db-?', environment: 'prod*', tier: 'dba', deployer: 'script' },
        { service: 'infra', tier: 'ops' },
        { environment: 'production', tier: 'high' },
        { environment: 'staging', tier: 'low' },
      ],
    },
    'policy-hash',
  );

  it.each<[string, string, number, string, string]>([
    ['pay-api', 'production', 0, 'critical', 'script'],
    ['pay-', 'production', 0, 'critical', 'script'],
    ['pay-api', 'staging', 4, 'low', 'log'],
    ['db-1', 'production', 1, 'dba', 'script'],
    ['db-1', 'prod-eu', 1, 'dba', 'script'],
    ['db-12', 'production', 3, 'high', 'log'],
    ['db-', 'production', 3, 'high', 'log'],
    ['infra', 'anything', 2, 'ops', 'log'],
    ['web', 'production', 3, 'high', 'log'],
    ['apay-api', 'production', 3, 'high', 'log'],
  ])('%s in %s → rules[%d], tier %s, deployer %s', (service, environment, ruleIndex, tierName, deployer) => {
    expect(resolveRule(policy, service, environment)).toEqual({
      ...policy.tiers[tierName],
      deployer,
      policyHash: 'policy-hash',
      ruleIndex,
    });
  });

  it('the first match wins even when a later rule is stricter', () => {
    const lax = validatePolicy(
      {
        tiers: { low: { approvals: 1, expiresAfter: '1h' }, high: { approvals: 3, expiresAfter: '1h' } },
        rules: [{ tier: 'low' }, { service: 'pay-api', environment: 'production', tier: 'high' }],
      },
      'h',
    );
    expect(resolveRule(lax, 'pay-api', 'production')).toMatchObject({ tier: 'low', ruleIndex: 0 });
  });

  it('matches names canonically: PAY-api in Production meets the pay-* production rule', () => {
    expect(resolveRule(policy, 'PAY-api', 'Production')).toMatchObject({ tier: 'critical', ruleIndex: 0 });
  });

  it.each([
    ['web', 'dev'],
    ['pay-api', 'production-eu'],
  ])('no matching rule for %s in %s → RuleError', (service, environment) => {
    expect(() => resolveRule(policy, service, environment)).toThrow(RuleError);
    expect(() => resolveRule(policy, service, environment)).toThrow(/no rule of the policy matches/);
  });

  describe('minimumTier', () => {
    it.each<[string, string, string, string, Partial<TierRule>]>([
      ['the same tier', 'web', 'production', 'high', { tier: 'high', approvals: 2 }],
      ['a laxer tier is ignored', 'web', 'production', 'low', { tier: 'high', approvals: 2, expiresAfterMs: 24 * H }],
      ['a laxer tier is ignored (critical)', 'pay-api', 'production', 'high', { tier: 'critical', approvals: 2, requiredGroups: ['security'] }],
      ['a stricter tier is taken', 'web', 'staging', 'high', { tier: 'high', approvals: 2 }],
      ['a stricter tier with groups is taken', 'web', 'production', 'critical', { tier: 'critical', approvals: 2, requiredGroups: ['security'], expiresAfterMs: 8 * H }],
      ['eligibleGroups make a tier stricter', 'web', 'staging', 'ops', { tier: 'ops', eligibleGroups: ['sre'], expiresAfterMs: 2 * H }],
    ])('%s', (_label, service, environment, minimumTier, expected) => {
      const applied = resolveRule(policy, service, environment, minimumTier);
      expect(applied).toMatchObject(expected);
      expect(applied.deployer).toBe(resolveRule(policy, service, environment).deployer);
      expect(applied.ruleIndex).toBe(resolveRule(policy, service, environment).ruleIndex);
    });

    it.each<[string, string, string, string, Omit<TierRule, never>]>([
      ['high (more approvals) and quick (shorter expiry)', 'web', 'production', 'quick',
        { tier: 'high+quick', approvals: 2, requiredGroups: [], eligibleGroups: [], expiresAfterMs: 1 * H }],
      ['critical and ops (groups on both axes)', 'pay-api', 'production', 'ops',
        { tier: 'critical+ops', approvals: 2, requiredGroups: ['security'], eligibleGroups: ['sre'], expiresAfterMs: 2 * H }],
      ['ops and critical', 'infra', 'x', 'critical',
        { tier: 'ops+critical', approvals: 2, requiredGroups: ['security'], eligibleGroups: ['sre'], expiresAfterMs: 2 * H }],
    ])('incomparable tiers merge to the strictest of both: %s', (_label, service, environment, minimumTier, expected) => {
      const applied = resolveRule(policy, service, environment, minimumTier);
      const { deployer, policyHash, ruleIndex, ...rule } = applied;
      expect(rule).toEqual(expected);
      expect(policyHash).toBe('policy-hash');
      expect(deployer).toBe(resolveRule(policy, service, environment).deployer);
      expect(ruleIndex).toBe(resolveRule(policy, service, environment).ruleIndex);
    });

    it('eligible groups with no approver in common → RuleError', () => {
      expect(() => resolveRule(policy, 'infra', 'x', 'dba')).toThrow(RuleError);
      expect(() => resolveRule(policy, 'infra', 'x', 'dba')).toThrow(/admit no common approvers/);
    });

    it.each(['nope', 'HIGH', '', 'constructor', 'toString', '__proto__', 'hasOwnProperty'])(
      'unknown minimumTier %j → RuleError',
      (minimumTier) => {
        expect(() => resolveRule(policy, 'web', 'production', minimumTier)).toThrow(RuleError);
        expect(() => resolveRule(policy, 'web', 'production', minimumTier)).toThrow(/is not a tier of the policy/);
      },
    );
  });

  it('the CONTRACT.md policy resolves as documented', () => {
    const contract = validatePolicy(parse(CONTRACT_YAML), 'hash', { ARGO_SECRET: 's' });
    expect(resolveRule(contract, 'pay-ledger', 'production')).toMatchObject({ tier: 'critical', deployer: 'script', ruleIndex: 0 });
    expect(resolveRule(contract, 'web', 'production')).toMatchObject({ tier: 'high', deployer: 'log', ruleIndex: 1 });
    expect(resolveRule(contract, 'pay-ledger', 'staging')).toMatchObject({ tier: 'low', deployer: 'log', ruleIndex: 2 });
  });
});
