import { DefaultLogger, Runtime } from '@temporalio/worker';

/** Quiet workers in tests; the native runtime is installed once per process. */
export function quietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed by an earlier test file in this process
  }
}
