// The change calendar: windows in which an environment (and optionally a service) takes no
// deploys. Pure: whether a service and environment are frozen at an instant, until when and
// why, and the occurrences of each window within a horizon. No clock is read here; callers
// pass the instant. Recurring windows are computed with croner in the window's IANA time zone,
// so "Fri 16:00 Europe/Berlin" is 16:00 on the wall clock in summer and in winter.

import { Cron } from 'croner';
import { nameMatches } from './names';
import { CALENDAR_CLEAR_MS } from './types';

/** A day of the week and a wall-clock time, in the window's time zone. */
export interface WeeklyPoint {
  /** 0 Sunday … 6 Saturday. */
  day: number;
  hour: number;
  minute: number;
}

export type FreezeSchedule =
  /** One-off: from `from` (inclusive) to `until` (exclusive), epoch milliseconds. */
  | { kind: 'once'; from: number; until: number }
  /** Starts at each occurrence of `cron` in `timeZone` and lasts `durationMs` of elapsed time. */
  | { kind: 'cron'; cron: string; durationMs: number; timeZone: string }
  /** From a weekday and wall-clock time to the next `until` weekday and time, in `timeZone`. */
  | { kind: 'weekly'; from: WeeklyPoint; until: WeeklyPoint; timeZone: string };

export interface FreezeWindow {
  /** Unique within the configuration; the audit trail, the view and the calendar name it. */
  name: string;
  /** A glob compared canonically, as the rules' are (policy/names.ts). */
  environment: string;
  /** A glob compared canonically; `*` when the window names no service. */
  service: string;
  reason: string;
  schedule: FreezeSchedule;
  /** The window as the configuration wrote it, for the calendar. */
  source: Record<string, unknown>;
}

/** One occurrence of a window: [from, until). */
export interface FreezeOccurrence {
  window: string;
  reason: string;
  from: number;
  until: number;
}

/** Is a deploy of a service to an environment frozen at an instant, until when, and why. */
export type FreezeCheck =
  | { frozen: false }
  | {
      frozen: true;
      /** The end of the freeze: of the window in force, extended by any that overlaps or adjoins it. */
      until: string;
      /** The reasons of the windows in force at the instant, joined. */
      reason: string;
      /** The names of the windows in force at the instant. */
      windows: string[];
    };

/** How many adjoining or overlapping occurrences `until` follows before it stops (re-checked later). */
const CHAIN_LIMIT = 100;

function cronOf(pattern: string, timeZone: string): Cron {
  return new Cron(pattern, { timezone: timeZone, paused: true });
}

const weeklyCron = (point: WeeklyPoint) => `0 ${point.minute} ${point.hour} * * ${point.day}`;

/** The latest run of `cron` at or before `at`, if any. */
function latestRunAtOrBefore(cron: Cron, at: number): number | undefined {
  // croner's previousRuns is strictly before its reference, at whole seconds.
  for (const run of cron.previousRuns(2, new Date(at + 1000))) {
    if (run.getTime() <= at) return run.getTime();
  }
  return undefined;
}

/** The occurrence of a window that covers the instant (start ≤ at < end), if any. */
export function occurrenceAt(window: FreezeWindow, at: number): FreezeOccurrence | undefined {
  const occurrence = (from: number, until: number) => (from <= at && at < until ? { window: window.name, reason: window.reason, from, until } : undefined);
  const schedule = window.schedule;
  switch (schedule.kind) {
    case 'once':
      return occurrence(schedule.from, schedule.until);
    case 'cron': {
      // Every occurrence lasts as long, so the latest start is the only one that can still cover `at`.
      const start = latestRunAtOrBefore(cronOf(schedule.cron, schedule.timeZone), at);
      return start === undefined ? undefined : occurrence(start, start + schedule.durationMs);
    }
    case 'weekly': {
      const start = latestRunAtOrBefore(cronOf(weeklyCron(schedule.from), schedule.timeZone), at);
      if (start === undefined) return undefined;
      const end = cronOf(weeklyCron(schedule.until), schedule.timeZone).nextRun(new Date(start));
      return end ? occurrence(start, end.getTime()) : undefined;
    }
  }
}

/**
 * The occurrences of a window that overlap [from, until), oldest first, at most `limit`; the
 * one in force at `from`, if any, first.
 */
export function occurrencesBetween(window: FreezeWindow, from: number, until: number, limit: number): FreezeOccurrence[] {
  const found: FreezeOccurrence[] = [];
  const schedule = window.schedule;
  if (schedule.kind === 'once') {
    if (schedule.from < until && schedule.until > from) found.push({ window: window.name, reason: window.reason, from: schedule.from, until: schedule.until });
    return found.slice(0, limit);
  }
  const current = occurrenceAt(window, from);
  if (current) found.push(current);
  const starts = schedule.kind === 'cron' ? cronOf(schedule.cron, schedule.timeZone) : cronOf(weeklyCron(schedule.from), schedule.timeZone);
  const ends = schedule.kind === 'weekly' ? cronOf(weeklyCron(schedule.until), schedule.timeZone) : undefined;
  let cursor = new Date(from);
  while (found.length < limit) {
    const next = starts.nextRun(cursor);
    if (!next || next.getTime() >= until) break;
    const start = next.getTime();
    const end = schedule.kind === 'cron' ? start + schedule.durationMs : ends!.nextRun(next)?.getTime();
    if (end === undefined) break;
    if (!current || start !== current.from) found.push({ window: window.name, reason: window.reason, from: start, until: end });
    cursor = next;
  }
  return found;
}

/** Does the window apply to this service and environment? Names compared canonically. */
export function appliesTo(window: FreezeWindow, service: string, environment: string): boolean {
  return nameMatches(window.environment, environment) && nameMatches(window.service, service);
}

/**
 * Is a deploy of `service` to `environment` frozen at `at`? When it is: until when (the end of
 * the windows in force, followed through any window that overlaps or adjoins them, so that the
 * answer is the first instant a deploy may start), and why.
 */
export function freezeAt(windows: readonly FreezeWindow[], service: string, environment: string, at: number): FreezeCheck {
  const applicable = windows.filter((window) => appliesTo(window, service, environment));
  const inForce = (instant: number) =>
    applicable.map((window) => occurrenceAt(window, instant)).filter((found): found is FreezeOccurrence => found !== undefined);
  const now = inForce(at);
  if (now.length === 0) return { frozen: false };
  let until = Math.max(...now.map((occurrence) => occurrence.until));
  for (let step = 0; step < CHAIN_LIMIT; step++) {
    const next = inForce(until);
    if (next.length === 0) break;
    until = Math.max(...next.map((occurrence) => occurrence.until));
  }
  const names = [...new Set(now.map((occurrence) => occurrence.window))];
  const reasons = [...new Set(now.map((occurrence) => occurrence.reason))];
  return { frozen: true, until: new Date(until).toISOString(), reason: reasons.join('; '), windows: names };
}

/**
 * The end of the `spanMs` from `at` when no window has an occurrence in it, for any service or
 * environment; undefined when one does (the deploy must then read the calendar for its own target).
 */
export function calendarClearUntil(windows: readonly FreezeWindow[], at: number, spanMs = CALENDAR_CLEAR_MS): string | undefined {
  const until = at + spanMs;
  return windows.every((window) => occurrencesBetween(window, at, until, 1).length === 0) ? new Date(until).toISOString() : undefined;
}

/** A window as the calendar shows it: where it applies, why, and its occurrences in the horizon. */
export interface CalendarEntry {
  name: string;
  environment: string;
  service: string;
  reason: string;
  kind: FreezeSchedule['kind'];
  /** The schedule as configured (from/until, cron/duration, weekly, timeZone). */
  schedule: Record<string, unknown>;
  /** Whether an occurrence is in force at `now`. */
  active: boolean;
  occurrences: Array<{ from: string; until: string; active: boolean }>;
  /** More occurrences fall in the horizon than are listed. */
  truncated: boolean;
}

/** The calendar between `from` and `until`: every window, its occurrences (at most `limit` each). */
export function calendar(windows: readonly FreezeWindow[], now: number, from: number, until: number, limit: number): CalendarEntry[] {
  return windows.map((window) => {
    const found = occurrencesBetween(window, from, until, limit + 1);
    const occurrences = found.slice(0, limit).map((occurrence) => ({
      from: new Date(occurrence.from).toISOString(),
      until: new Date(occurrence.until).toISOString(),
      active: occurrence.from <= now && now < occurrence.until,
    }));
    return {
      name: window.name,
      environment: window.environment,
      service: window.service,
      reason: window.reason,
      kind: window.schedule.kind,
      schedule: window.source,
      active: occurrenceAt(window, now) !== undefined,
      occurrences,
      truncated: found.length > limit,
    };
  });
}

// --- reading the configuration's spellings (policy/config.ts validates with these) ---

const DAYS: Record<string, number> = {
  sun: 0, sunday: 0, mon: 1, monday: 1, tue: 2, tuesday: 2, wed: 3, wednesday: 3,
  thu: 4, thursday: 4, fri: 5, friday: 5, sat: 6, saturday: 6,
};

/** `Fri 16:00` (day names in English, three letters or whole, any case; 24-hour time). */
export function parseWeeklyPoint(text: string): WeeklyPoint | undefined {
  const match = /^\s*([A-Za-z]{3,9})\s+(\d{1,2}):(\d{2})\s*$/.exec(text);
  if (!match) return undefined;
  const day = Object.hasOwn(DAYS, match[1].toLowerCase()) ? DAYS[match[1].toLowerCase()] : undefined;
  const hour = Number(match[2]);
  const minute = Number(match[3]);
  if (day === undefined || hour > 23 || minute > 59) return undefined;
  return { day, hour, minute };
}

/** An ISO 8601 instant with a date, a time and an offset (`Z` or `+01:00`): never a local time. */
export function parseInstant(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Whether the IANA time zone is known to this runtime. */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The problem with a cron pattern in a time zone, or undefined when it is valid and ever fires. */
export function cronProblem(pattern: string, timeZone: string): string | undefined {
  try {
    const cron = cronOf(pattern, timeZone);
    if (!cron.nextRun(new Date(0))) return 'never occurs';
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
