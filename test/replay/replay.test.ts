// Recorded histories of every ending, replayed against today's workflow code: a change that
// would break the deployments running now (non-determinism) fails here, before it ships.
// Re-record after an intended, versioned change: `npm run record-histories`.

import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { quietTemporalRuntime } from '../support/temporal-runtime';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((file) => file.endsWith('.json')).sort();

const recorded = (file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
const replay = (history: unknown, name: string) =>
  Worker.runReplayHistory({ workflowBundle: { codePath: process.env.COUNTERSIGN_WORKFLOW_BUNDLE! } }, history, name);

/** Rewrites a recorded JSON payload in place, as a newer API would have sent it. */
function amend(payload: { data: string }, change: (value: Record<string, unknown>) => Record<string, unknown>): void {
  const value = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
  payload.data = Buffer.from(JSON.stringify(change(value))).toString('base64');
}

describe('replay of recorded deployment histories', () => {
  beforeAll(() => quietTemporalRuntime());

  it('has a recorded history of each ending', () => {
    expect(files.map((file) => file.replace(/\.json$/, ''))).toEqual(
      expect.arrayContaining(['cancelled', 'deployed', 'expired', 'failed', 'overridden', 'rejected']),
    );
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    await replay(recorded(file), `replay-${file}`);
  });

  // An API upgraded before its workers sends `requestRecorded: true` to a worker that does not
  // know it: that worker writes the request's event itself, as the recordings of the shape
  // before `request-recorded` show. Those histories, with the flag in their input, must replay
  // on today's code the same way.
  const before = files.filter((file) => file.endsWith('.fewer-history-events.json'));
  it.each(before)('%s replays with requestRecorded in its input, as a worker from before it ran it', async (file) => {
    const history = recorded(file);
    amend(history.events[0].workflowExecutionStartedEventAttributes.input.payloads[0], (request) => ({ ...request, requestRecorded: true }));
    await replay(history, `replay-flagged-${file}`);
  });

  // Likewise an API upgraded before its workers sends each approval with its reading of the
  // calendar (`calendarClearUntil`) to a worker that reads the calendar itself, as the recordings
  // of the shape before `calendar-with-answer` do: with a reading in every approval that is still
  // good when the gate handles it, they must replay on today's code the same way.
  const beforeCalendar = files.filter((file) => file.endsWith('.request-recorded.json'));
  it.each(beforeCalendar)('%s replays with a reading of the calendar in each approval, as a worker from before it ran it', async (file) => {
    const history = recorded(file);
    let approvals = 0;
    for (const event of history.events) {
      const accepted = event.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input;
      if (accepted?.name !== 'approve') continue;
      // Good when the gate handles it: a second after the approval was accepted.
      const clearUntil = new Date(Date.parse(event.eventTime) + 1_000).toISOString();
      amend(accepted.args.payloads[0], (input) => ({ ...input, calendarClearUntil: clearUntil }));
      approvals += 1;
    }
    if (/^(deployed|held-by-freeze)\./.test(file)) expect(approvals).toBeGreaterThan(0);
    await replay(history, `replay-calendar-${file}`);
  });
});
