// `auth.ui` in the policy file: the approver page's sessions, trusted proxies and OIDC provider.

import { PolicyError, validatePolicy } from '../../policy/config';

const base = { tiers: { low: { approvals: 1, expiresAfter: '1h' } }, rules: [{ tier: 'low' }] };
const load = (ui: unknown, env: Record<string, string> = {}) => validatePolicy({ ...base, auth: { ui } }, 'sha256:x', env).ui;
const problems = (ui: unknown): string[] => {
  try {
    load(ui);
  } catch (err) {
    return (err as PolicyError).problems;
  }
  throw new Error('expected the policy to be refused');
};

describe('auth.ui', () => {
  it('has defaults: 30 minutes idle, 12 hours at most, no trusted proxy, no OIDC', () => {
    expect(validatePolicy(base, 'sha256:x').ui).toEqual({ sessionIdleMs: 1_800_000, sessionMaxAgeMs: 43_200_000, trustedProxies: [] });
  });

  it('takes every key, discovery left to the issuer when no endpoint is given, and openid always among the scopes', () => {
    const ui = load({
      sessionIdle: '15m',
      sessionMaxAge: '8h',
      trustedProxies: ['10.0.0.1', '::1'],
      oidc: { issuer: 'https://sso.example.com', clientId: 'countersign', clientSecret: '${SECRET}', scopes: ['email'] },
    }, { SECRET: 's3cret' });
    expect(ui).toEqual({
      sessionIdleMs: 900_000,
      sessionMaxAgeMs: 28_800_000,
      trustedProxies: ['10.0.0.1', '::1'],
      oidc: { issuer: 'https://sso.example.com', clientId: 'countersign', clientSecret: 's3cret', principalClaim: 'sub', scopes: ['openid', 'email'], label: 'Sign in with single sign-on' },
    });
  });

  it.each([
    ['an unknown key', { sessionTimeout: '1h' }, 'auth.ui.sessionTimeout: unknown key'],
    ['a bad duration', { sessionIdle: 'soon' }, 'auth.ui.sessionIdle: must be a duration'],
    ['idle longer than the maximum age', { sessionIdle: '2h', sessionMaxAge: '1h' }, 'auth.ui.sessionIdle: must not be longer than auth.ui.sessionMaxAge'],
    ['proxies not a list', { trustedProxies: '127.0.0.1' }, 'auth.ui.trustedProxies: must be a list'],
    ['an OIDC provider without a client id', { oidc: { issuer: 'https://sso.example.com' } }, 'auth.ui.oidc.clientId: must be a non-empty string'],
    ['an issuer that is not a URL', { oidc: { issuer: 'sso', clientId: 'c' } }, 'auth.ui.oidc.issuer: must be an http(s) URL'],
    ['a javascript: endpoint', { oidc: { issuer: 'https://sso.example.com', clientId: 'c', authorizationEndpoint: 'javascript:alert(1)' } }, 'auth.ui.oidc.authorizationEndpoint: must be an http(s) URL'],
    ['an unknown OIDC key', { oidc: { issuer: 'https://sso.example.com', clientId: 'c', pkce: false } }, 'auth.ui.oidc.pkce: unknown key'],
  ])('refuses %s, naming the key', (_name, ui, expected) => {
    expect(problems(ui).join('\n')).toContain(expected);
  });
});
