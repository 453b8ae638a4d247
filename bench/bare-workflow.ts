// The baseline: bare Temporal, an update that a workflow accepts and answers at once. What
// Countersign adds on top of this is what the benchmark measures.

import { condition, defineUpdate, setHandler } from '@temporalio/workflow';

export const pingUpdate = defineUpdate<number, [number]>('ping');

export async function bareGateWorkflow(): Promise<void> {
  let answers = 0;
  setHandler(pingUpdate, (n) => {
    answers += 1;
    return n;
  });
  await condition(() => answers >= 1_000_000);
}
