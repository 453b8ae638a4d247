// Recorded histories of every ending, replayed against today's workflow code: a change that
// would break the deployments running now (non-determinism) fails here, before it ships.
// Re-record after an intended, versioned change: `npm run record-histories`.

import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { quietTemporalRuntime } from '../support/temporal-runtime';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((file) => file.endsWith('.json')).sort();

describe('replay of recorded deployment histories', () => {
  beforeAll(() => quietTemporalRuntime());

  it('has a recorded history of each ending', () => {
    expect(files.map((file) => file.replace(/\.json$/, ''))).toEqual(
      expect.arrayContaining(['cancelled', 'deployed', 'expired', 'failed', 'overridden', 'rejected']),
    );
  });

  it.each(files)('%s replays without non-determinism', async (file) => {
    const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: process.env.COUNTERSIGN_WORKFLOW_BUNDLE! } },
      history,
      `replay-${file}`,
    );
  });
});
