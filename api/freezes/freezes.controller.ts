// The change calendar as the API shows it: every configured freeze window, its occurrences
// within a horizon, and whether it is in force now. Any authenticated principal may read it:
// a pipeline plans its deploys by it.

import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { calendar, freezeAt } from '../../policy/freezes';
import { configuredSpelling, nameMatches } from '../../policy/names';
import type { PolicyHolder } from '../../settings/policy-file';
import { ListFreezesQuery } from '../dto/requests';
import { Answer, AUTHENTICATED_PROBLEMS, Problems } from '../dto/responses';
import { instantParameter } from '../input-guard';
import { badRequest } from '../problem';
import { POLICY } from '../tokens';
import { ValidQuery } from '../validation';

const DAY_MS = 86_400_000;
/** The default horizon: the next 30 days. */
const DEFAULT_HORIZON_MS = 30 * DAY_MS;
/** The longest horizon one call may ask for. */
export const MAX_HORIZON_MS = 366 * DAY_MS;
/** Occurrences one answer lists in all. */
const MAX_OCCURRENCES = 10_000;

@Controller('v1/freezes')
@Problems(AUTHENTICATED_PROBLEMS)
export class FreezesController {
  constructor(@Inject(POLICY) private readonly policy: PolicyHolder) {}

  @Get()
  @ApiOperation({
    summary: 'The change calendar: freeze windows, their occurrences within a horizon, and which are in force now (any principal)',
    description:
      'Every window of `freezes:` in the configuration in force, with its occurrences between `from` (default now) and `until` ' +
      '(default 30 days later; at most 366 days after `from`), at most `limit` each (`truncated` says when more fall in the horizon). ' +
      'With `service` and `environment`, only the windows that apply to them (names compared canonically), and `now` says whether a deploy ' +
      'of that service to that environment is frozen at this moment, until when and why. An approved deploy waits while frozen; ' +
      'the calendar is read again right before the deploy starts.',
  })
  @Answer(200, 'the calendar', 'FreezeCalendar')
  @Problems({ 400: 'from or until is not an ISO 8601 time, until is not after from, or the horizon is longer than 366 days' })
  list(@ValidQuery() query: ListFreezesQuery) {
    const now = Date.now();
    const from = instantParameter('from', query.from)?.getTime() ?? now;
    const until = instantParameter('until', query.until)?.getTime() ?? from + DEFAULT_HORIZON_MS;
    if (until <= from) throw badRequest(`until (${new Date(until).toISOString()}) must be after from (${new Date(from).toISOString()})`, { parameter: 'until' });
    if (until - from > MAX_HORIZON_MS) {
      throw badRequest(`until must be at most 366 days after from; the horizon from ${new Date(from).toISOString()} to ${new Date(until).toISOString()} is longer: ask for a shorter one`, { parameter: 'until' });
    }
    const policy = this.policy.current();
    const environment = query.environment === undefined ? undefined : (configuredSpelling(query.environment, policy.environments.names) ?? query.environment);
    const service = query.service === undefined ? undefined : (configuredSpelling(query.service, policy.services.names) ?? query.service);
    const windows = policy.freezes.filter((window) =>
      (environment === undefined || nameMatches(window.environment, environment)) && (service === undefined || nameMatches(window.service, service)));
    const target = service !== undefined && environment !== undefined ? { service, environment } : undefined;
    return {
      now: new Date(now).toISOString(),
      from: new Date(from).toISOString(),
      until: new Date(until).toISOString(),
      policyHash: policy.hash,
      // At most MAX_OCCURRENCES in all: each window's share, and `truncated` says where more fall.
      windows: calendar(windows, now, from, until, Math.max(1, Math.min(query.limit!, Math.floor(MAX_OCCURRENCES / Math.max(1, windows.length))))),
      ...(target ? { target: { ...target, ...freezeAt(windows, target.service, target.environment, now) } } : {}),
    };
  }
}
