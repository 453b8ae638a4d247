import { Runtime } from '@temporalio/worker';
import { createLogger, temporalLogger } from '../../settings/logger';

/** Quiet workers in tests (errors only, as the processes' JSON lines); installed once per process. */
export function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: temporalLogger(createLogger({ level: 'error', name: 'test-worker' })) });
  } catch {
    // already installed by an earlier test file in this process
  }
}
