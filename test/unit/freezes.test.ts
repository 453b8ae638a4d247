// The change calendar, pure: which deploys a freeze holds, until when and why, in a time zone,
// across DST transitions and overlapping windows; and `freezes:` as the configuration writes it.

import { parse } from 'yaml';
import { PolicyError, resolveRule, validatePolicy } from '../../policy/config';
import { CALENDAR_CLEAR_MS } from '../../policy/types';
import { calendar, calendarClearUntil, freezeAt, type FreezeWindow, occurrencesBetween, parseWeeklyPoint } from '../../policy/freezes';

const at = (iso: string) => Date.parse(iso);

function windows(yaml: string, environments = '[production, staging]'): FreezeWindow[] {
  return validatePolicy(parse(`tiers: { low: { approvals: 1, expiresAfter: 1h } }\nenvironments: ${environments}\nrules: [{ tier: low }]\nfreezes:\n${yaml}`), 'h').freezes;
}

function problems(yaml: string): string[] {
  try {
    windows(yaml);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  throw new Error('accepted');
}

describe('freezeAt: one-off windows', () => {
  const calendarOf = windows(`
  - { name: year-end, environment: production, from: "2026-12-20T00:00:00+01:00", until: "2027-01-04T00:00:00+01:00", reason: year end }
  - { name: pay-migration, environment: "*", service: "pay-*", from: "2026-12-01T10:00:00Z", until: "2026-12-01T12:00:00Z", reason: ledger migration }
`);

  it.each([
    ['before the window', 'web', 'production', '2026-12-19T22:59:59Z', undefined],
    ['at its start (inclusive, offset applied)', 'web', 'production', '2026-12-19T23:00:00Z', '2027-01-03T23:00:00.000Z'],
    ['inside', 'web', 'production', '2026-12-25T12:00:00Z', '2027-01-03T23:00:00.000Z'],
    ['at its end (exclusive)', 'web', 'production', '2027-01-03T23:00:00Z', undefined],
    ['another environment', 'web', 'staging', '2026-12-25T12:00:00Z', undefined],
    ['environment spelled otherwise (canonical)', 'web', 'PRODUCTION', '2026-12-25T12:00:00Z', '2027-01-03T23:00:00.000Z'],
    ['a service glob, any environment', 'pay-api', 'staging', '2026-12-01T11:00:00Z', '2026-12-01T12:00:00.000Z'],
    ['a service glob, canonical spelling', 'Pay_API', 'staging', '2026-12-01T11:00:00Z', '2026-12-01T12:00:00.000Z'],
    ['a service the glob does not match', 'web', 'staging', '2026-12-01T11:00:00Z', undefined],
  ])('%s', (_, service, environment, instant, until) => {
    const check = freezeAt(calendarOf, service, environment, at(instant));
    if (until === undefined) expect(check).toEqual({ frozen: false });
    else expect(check).toMatchObject({ frozen: true, until });
  });

  it('names the window and its reason', () => {
    expect(freezeAt(calendarOf, 'web', 'production', at('2026-12-25T00:00:00Z'))).toEqual({
      frozen: true, until: '2027-01-03T23:00:00.000Z', reason: 'year end', windows: ['year-end'],
    });
  });
});

describe('freezeAt: overlapping and adjoining windows', () => {
  const calendarOf = windows(`
  - { name: a, environment: production, from: "2026-06-01T08:00:00Z", until: "2026-06-01T10:00:00Z", reason: first }
  - { name: b, environment: production, from: "2026-06-01T09:30:00Z", until: "2026-06-01T12:00:00Z", reason: second }
  - { name: c, environment: production, from: "2026-06-01T12:00:00Z", until: "2026-06-01T13:00:00Z", reason: third }
  - { name: d, environment: production, from: "2026-06-01T14:00:00Z", until: "2026-06-01T15:00:00Z", reason: later }
`);

  it('follows overlapping and adjoining windows to the first instant a deploy may start', () => {
    expect(freezeAt(calendarOf, 'web', 'production', at('2026-06-01T09:00:00Z'))).toEqual({
      frozen: true, until: '2026-06-01T13:00:00.000Z', reason: 'first', windows: ['a'],
    });
  });

  it('names every window in force at the instant', () => {
    expect(freezeAt(calendarOf, 'web', 'production', at('2026-06-01T09:45:00Z'))).toEqual({
      frozen: true, until: '2026-06-01T13:00:00.000Z', reason: 'first; second', windows: ['a', 'b'],
    });
  });

  it('stops at a gap', () => {
    expect(freezeAt(calendarOf, 'web', 'production', at('2026-06-01T13:30:00Z'))).toEqual({ frozen: false });
    expect(freezeAt(calendarOf, 'web', 'production', at('2026-06-01T14:30:00Z'))).toMatchObject({ until: '2026-06-01T15:00:00.000Z' });
  });

  it('stops following a freeze that never ends, to be read again at the end it gives', () => {
    const always = windows(`
  - { name: hourly, environment: production, cron: "0 * * * *", duration: 2h, timeZone: UTC, reason: busy }
`);
    const check = freezeAt(always, 'web', 'production', at('2026-06-01T09:30:00Z'));
    expect(check.frozen).toBe(true);
    expect(Date.parse((check as { until: string }).until)).toBeGreaterThan(at('2026-06-05T00:00:00Z'));
  });
});

describe('freezeAt: recurring windows in a time zone, across DST', () => {
  const calendarOf = windows(`
  - { name: nightly, environment: production, cron: "30 2 * * *", duration: 1h, timeZone: Europe/Berlin, reason: nightly batch }
  - { name: weekend, environment: production, weekly: { from: "Fri 16:00", until: "Mon 08:00" }, timeZone: America/New_York, reason: weekend }
`);

  it.each([
    // Berlin is UTC+1 in winter, UTC+2 in summer; the clocks go forward on 2026-03-29 and back on 2026-10-25.
    ['winter: 02:30 Berlin is 01:30Z', 'nightly', '2026-01-15T01:45:00Z', '2026-01-15T02:30:00.000Z'],
    ['summer: 02:30 Berlin is 00:30Z', 'nightly', '2026-07-15T00:45:00Z', '2026-07-15T01:30:00.000Z'],
    ['summer: 01:45Z is outside', 'nightly', '2026-07-15T01:45:00Z', undefined],
    // 02:30 does not exist on the spring-forward night: the window starts at the next valid time, 03:00 CEST.
    ['spring forward: starts at 03:00 CEST (01:00Z)', 'nightly', '2026-03-29T01:15:00Z', '2026-03-29T02:00:00.000Z'],
    ['spring forward: nothing before it', 'nightly', '2026-03-29T00:45:00Z', undefined],
    // 02:30 happens twice on the fall-back night: the window starts at the first, and lasts an hour of elapsed time.
    ['fall back: the first 02:30 (CEST, 00:30Z)', 'nightly', '2026-10-25T00:45:00Z', '2026-10-25T01:30:00.000Z'],
    ['fall back: not again at the second 02:30 (CET, 01:30Z)', 'nightly', '2026-10-25T01:45:00Z', undefined],
    // New York weekend: Fri 16:00 to Mon 08:00 wall clock; DST ends there on Sunday 2026-11-01.
    ['weekend in summer time', 'weekend', '2026-07-18T12:00:00Z', '2026-07-20T12:00:00.000Z'],
    ['weekend across the change to winter time (the window is an hour longer)', 'weekend', '2026-10-31T12:00:00Z', '2026-11-02T13:00:00.000Z'],
    ['Friday before 16:00', 'weekend', '2026-10-30T19:59:00Z', undefined],
    ['Friday at 16:00 EDT', 'weekend', '2026-10-30T20:00:00Z', '2026-11-02T13:00:00.000Z'],
    ['Monday at 08:00 EST', 'weekend', '2026-11-02T13:00:00Z', undefined],
  ])('%s', (_, name, instant, until) => {
    const check = freezeAt(calendarOf.filter((window) => window.name === name), 'web', 'production', at(instant));
    if (until === undefined) expect(check).toEqual({ frozen: false });
    else expect(check).toMatchObject({ frozen: true, until, windows: [name] });
  });
});

describe('calendarClearUntil: no freeze anywhere for a little while', () => {
  const calendarOf = windows(`
  - { name: pay-migration, environment: "*", service: "pay-*", from: "2026-12-01T10:00:00Z", until: "2026-12-01T12:00:00Z", reason: ledger migration }
  - { name: nightly, environment: staging, cron: "30 2 * * *", duration: 1h, timeZone: Europe/Berlin, reason: nightly batch }
`);
  const clear = (instant: string) => new Date(at(instant) + CALENDAR_CLEAR_MS).toISOString();

  it.each([
    ['no window at all', [], '2026-12-01T11:00:00Z', true],
    ['long before every window', calendarOf, '2026-12-01T09:00:00Z', true],
    ['a window in force for one service only: none is claimed for any', calendarOf, '2026-12-01T11:00:00Z', false],
    ['a window that starts within the span', calendarOf, new Date(at('2026-12-01T10:00:00Z') - CALENDAR_CLEAR_MS + 1).toISOString(), false],
    ['a window that starts just after the span', calendarOf, new Date(at('2026-12-01T10:00:00Z') - CALENDAR_CLEAR_MS).toISOString(), true],
    ['at the end of a window (exclusive)', calendarOf, '2026-12-01T12:00:00Z', true],
    ['a recurring window in force (02:30 Berlin is 01:30Z in winter)', calendarOf, '2026-12-02T01:45:00Z', false],
    ['between its occurrences', calendarOf, '2026-12-02T12:00:00Z', true],
  ])('%s', (_, calendarWindows, instant, isClear) => {
    expect(calendarClearUntil(calendarWindows as FreezeWindow[], at(instant))).toBe(isClear ? clear(instant) : undefined);
  });
});

describe('the calendar: occurrences within a horizon', () => {
  const calendarOf = windows(`
  - { name: nightly, environment: production, cron: "0 22 * * *", duration: 2h, timeZone: UTC, reason: nightly batch }
  - { name: once, environment: staging, from: "2026-06-10T00:00:00Z", until: "2026-06-11T00:00:00Z", reason: once }
`);

  it('lists the occurrence in force first, then the next ones, and says which is active', () => {
    const entries = calendar(calendarOf, at('2026-06-01T23:00:00Z'), at('2026-06-01T23:00:00Z'), at('2026-06-04T00:00:00Z'), 10);
    expect(entries[0]).toMatchObject({ name: 'nightly', active: true, truncated: false, kind: 'cron', schedule: { cron: '0 22 * * *', duration: '2h', timeZone: 'UTC' } });
    expect(entries[0].occurrences).toEqual([
      { from: '2026-06-01T22:00:00.000Z', until: '2026-06-02T00:00:00.000Z', active: true },
      { from: '2026-06-02T22:00:00.000Z', until: '2026-06-03T00:00:00.000Z', active: false },
      { from: '2026-06-03T22:00:00.000Z', until: '2026-06-04T00:00:00.000Z', active: false },
    ]);
    expect(entries[1]).toMatchObject({ name: 'once', active: false, occurrences: [] });
  });

  it('bounds the occurrences of each window and says so', () => {
    const [nightly] = calendar(calendarOf, 0, at('2026-01-01T00:00:00Z'), at('2027-01-01T00:00:00Z'), 5);
    expect(nightly.occurrences).toHaveLength(5);
    expect(nightly.truncated).toBe(true);
  });

  it('a one-off window overlapping the horizon', () => {
    expect(occurrencesBetween(calendarOf[1], at('2026-06-10T12:00:00Z'), at('2026-06-12T00:00:00Z'), 10)).toHaveLength(1);
  });
});

describe('freezes: in the configuration', () => {
  it('reads each kind of window, with defaults', () => {
    const [once, nightly, weekend] = windows(`
  - { environment: production, from: "2026-12-20T00:00:00+01:00", until: "2027-01-04T00:00:00+01:00", reason: year end }
  - { name: nightly, environment: "*", service: "pay-*", cron: "0 22 * * *", duration: 2h, timeZone: Europe/Berlin, reason: batch }
  - { name: weekend, environment: staging, weekly: { from: "friday 16:00", until: "Mon 8:00" }, timeZone: UTC, reason: weekend }
`);
    expect(once).toMatchObject({ name: 'freezes[0]', service: '*', schedule: { kind: 'once', from: at('2026-12-19T23:00:00Z'), until: at('2027-01-03T23:00:00Z') } });
    expect(nightly.schedule).toEqual({ kind: 'cron', cron: '0 22 * * *', durationMs: 2 * 3_600_000, timeZone: 'Europe/Berlin' });
    expect(weekend.schedule).toEqual({ kind: 'weekly', from: { day: 5, hour: 16, minute: 0 }, until: { day: 1, hour: 8, minute: 0 }, timeZone: 'UTC' });
  });

  it.each([
    ['not a list', `  { environment: production }`, /^freezes: must be a list/],
    ['an unknown key', `  - { environment: production, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z", reason: x, tz: UTC }`, /^freezes\[0\]\.tz: unknown key/],
    ['no environment', `  - { from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z", reason: x }`, /^freezes\[0\]\.environment: must be a non-empty string/],
    ['an environment the policy does not know', `  - { environment: prodution, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z", reason: x }`, /^freezes\[0\]\.environment: names environment prodution/],
    ['no reason', `  - { environment: production, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z" }`, /^freezes\[0\]\.reason: must be a non-empty string/],
    ['a reason with a control character', `  - { environment: production, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z", reason: "a\\u0007b" }`, /^freezes\[0\]\.reason: must be one line/],
    ['no schedule', `  - { environment: production, reason: x }`, /^freezes\[0\]: needs a schedule/],
    ['two schedules', `  - { environment: production, reason: x, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z", cron: "0 0 * * *", duration: 1h, timeZone: UTC }`, /^freezes\[0\]: has from\/until and cron/],
    ['a time without an offset', `  - { environment: production, reason: x, from: "2026-12-20T00:00:00", until: "2026-12-21T00:00:00Z" }`, /^freezes\[0\]\.from: must be an ISO 8601 time with an offset/],
    ['until before from', `  - { environment: production, reason: x, from: "2026-12-21T00:00:00Z", until: "2026-12-20T00:00:00Z" }`, /^freezes\[0\]\.until: must be after from/],
    ['an unknown time zone', `  - { environment: production, reason: x, cron: "0 0 * * *", duration: 1h, timeZone: Mars/Olympus }`, /^freezes\[0\]\.timeZone: "Mars\/Olympus" is not an IANA time zone/],
    ['a recurring window without a time zone', `  - { environment: production, reason: x, cron: "0 0 * * *", duration: 1h }`, /^freezes\[0\]\.timeZone: must be a non-empty string/],
    ['a bad cron', `  - { environment: production, reason: x, cron: "every night", duration: 1h, timeZone: UTC }`, /^freezes\[0\]\.cron: "every night" is not a usable cron pattern/],
    ['a cron that never occurs', `  - { environment: production, reason: x, cron: "0 0 30 2 *", duration: 1h, timeZone: UTC }`, /^freezes\[0\]\.cron: .*never occurs/],
    ['a cron without a duration', `  - { environment: production, reason: x, cron: "0 0 * * *", timeZone: UTC }`, /^freezes\[0\]\.duration: must be a duration/],
    ['a weekly point that is not one', `  - { environment: production, reason: x, weekly: { from: "Funday 16:00", until: "Mon 08:00" }, timeZone: UTC }`, /^freezes\[0\]\.weekly\.from: must be a day and a 24-hour time/],
    ['a weekly window that never ends', `  - { environment: production, reason: x, weekly: { from: "Mon 08:00", until: "Mon 08:00" }, timeZone: UTC }`, /^freezes\[0\]\.weekly\.until: is the same as from/],
    ['two windows of one name', `  - { name: a, environment: production, reason: x, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z" }\n  - { name: a, environment: staging, reason: x, from: "2026-12-20T00:00:00Z", until: "2026-12-21T00:00:00Z" }`, /^freezes\[1\]\.name: "a" already names freezes\[0\]/],
  ])('refuses %s, naming the key', (_, yaml, expected) => {
    expect(problems(yaml)).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
  });

  it('reads weekly points in any case, whole or short', () => {
    expect(parseWeeklyPoint('SUNDAY 0:05')).toEqual({ day: 0, hour: 0, minute: 5 });
    expect(parseWeeklyPoint('constructor 10:00')).toBeUndefined();
    expect(parseWeeklyPoint('Mon 24:00')).toBeUndefined();
  });
});

describe('supersede: on a tier or a rule', () => {
  const policy = validatePolicy(parse(`
tiers:
  low: { approvals: 1, expiresAfter: 1h, supersede: true }
  high: { approvals: 2, expiresAfter: 1h }
rules:
  - { service: legacy, tier: low, supersede: false }
  - { service: api, tier: high, supersede: true }
  - { tier: low }
`), 'h');

  it.each([
    ['the tier says so', 'web', true],
    ['the rule turns the tier\'s off', 'legacy', false],
    ['the rule turns it on', 'api', true],
  ])('%s', (_, service, supersede) => {
    expect(resolveRule(policy, service, 'production').supersede === true).toBe(supersede);
  });

  it('never comes from a minimumTier', () => {
    expect(resolveRule(policy, 'legacy', 'production', 'high').supersede).toBeUndefined();
  });

  it('refuses anything but true or false, naming the key', () => {
    expect(() => validatePolicy(parse(`tiers: { low: { approvals: 1, expiresAfter: 1h, supersede: "yes" } }\nrules: [{ tier: low }]`), 'h'))
      .toThrow(/tiers\.low\.supersede: must be true or false/);
  });
});
