import { formatDuration, parseDuration } from '../../policy/duration';
import { globMatches } from '../../policy/glob';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each<[string, number]>([
    ['30s', 30 * S],
    ['1s', S],
    ['15m', 15 * M],
    ['24h', 24 * H],
    ['8h', 8 * H],
    ['7d', 7 * D],
    ['90s', 90 * S],
    ['0015m', 15 * M],
    [' 2h ', 2 * H],
    ['2 h', 2 * H],
    ['\t1d\n', D],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['no unit', '30'],
    ['unit only', 'h'],
    ['zero', '0s'],
    ['zero days', '0d'],
    ['negative', '-5m'],
    ['explicit plus', '+5m'],
    ['fraction', '1.5h'],
    ['unknown unit: weeks', '1w'],
    ['unknown unit: milliseconds', '500ms'],
    ['upper-case unit', '15M'],
    ['word unit', '2hours'],
    ['two parts', '1h30m'],
    ['unit first', 'h2'],
    ['ISO 8601', 'PT1H'],
    ['hex', '0x10s'],
    ['exponent', '1e3s'],
    ['fullwidth digits', '２h'],
    ['beyond safe integers', `${Number.MAX_SAFE_INTEGER}d`],
    ['absurdly long', `${'9'.repeat(400)}s`],
  ])('rejects %s (%j)', (_label, text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [S, '1s'],
    [30 * S, '30s'],
    [90 * S, '90s'],
    [M, '1m'],
    [15 * M, '15m'],
    [90 * M, '90m'],
    [H, '1h'],
    [24 * H, '1d'],
    [25 * H, '25h'],
    [36 * H, '36h'],
    [7 * D, '7d'],
    [1_500, '1500ms'],
    [1, '1ms'],
  ])('%d ms → %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each(['1s', '30s', '90s', '15m', '2h', '25h', '1d', '7d'])('round-trips %j through parse and format', (text) => {
    const ms = parseDuration(text);
    expect(ms).toBeDefined();
    expect(parseDuration(formatDuration(ms as number))).toBe(ms);
  });

  it.each<[string, string]>([
    ['60s', '1m'],
    ['60m', '1h'],
    ['24h', '1d'],
    ['3600s', '1h'],
  ])('normalises %j to the largest whole unit %j', (text, expected) => {
    expect(formatDuration(parseDuration(text) as number)).toBe(expected);
  });
});

describe('globMatches', () => {
  it.each<[string, string, boolean]>([
    // literal patterns are exact and anchored
    ['production', 'production', true],
    ['production', 'Production', false],
    ['production', 'production-eu', false],
    ['production', 'pre-production', false],
    ['production', '', false],
    ['', '', true],
    ['', 'x', false],
    // * is any run of characters, including none
    ['*', '', true],
    ['*', 'anything at all', true],
    ['pay-*', 'pay-', true],
    ['pay-*', 'pay-api', true],
    ['pay-*', 'pay-api-v2', true],
    ['pay-*', 'apay-api', false],
    ['pay-*', 'pay', false],
    ['*-db', 'orders-db', true],
    ['*-db', 'orders-db-replica', false],
    ['prod*', 'prod', true],
    ['prod*', 'prod-eu', true],
    ['*prod*', 'eu-prod-1', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'a-x-b-y-c', true],
    ['a*b*c', 'a-x-c', false],
    ['**', 'x', true],
    // ? is exactly one character
    ['db-?', 'db-1', true],
    ['db-?', 'db-', false],
    ['db-?', 'db-12', false],
    ['??', 'ab', true],
    ['??', 'a', false],
    ['?*', '', false],
    ['?*', 'a', true],
    // regular-expression metacharacters are literal
    ['api.v2', 'api.v2', true],
    ['api.v2', 'apixv2', false],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['(x|y)', '(x|y)', true],
    ['(x|y)', 'x', false],
    ['[ab]', '[ab]', true],
    ['[ab]', 'a', false],
    ['^start', '^start', true],
    ['end$', 'end$', true],
    ['${ENV}', '${ENV}', true],
    ['a\\b', 'a\\b', true],
    ['a\\d', 'a1', false],
    ['x{2}', 'xx', false],
    ['x{2}', 'x{2}', true],
  ])('%j matches %j → %s', (pattern, value, expected) => {
    expect(globMatches(pattern, value)).toBe(expected);
  });
});
