// The worker as a real process of its own (worker/main.ts, run from source), so a test can
// SIGKILL it mid-deploy as a crash or an out-of-memory kill would.

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

export interface WorkerProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has gone. */
  readonly exited: Promise<number | string | null>;
  kill(signal: NodeJS.Signals): Promise<number | string | null>;
}

/** Starts `worker/main.ts` with `env` on top of this process's environment; resolves once it polls. */
export async function startWorkerProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<WorkerProcess> {
  let output = '';
  const child = spawn(process.execPath, ['-r', path.join(__dirname, 'register-ts.js'), path.join(root, 'worker', 'main.ts')], {
    cwd: root,
    env: { ...process.env, COUNTERSIGN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const worker: WorkerProcess = {
    pid: child.pid!,
    child,
    output: () => output,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (!output.includes('worker polling')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the worker process exited early:\n${output}`);
    if (Date.now() > deadline) {
      await worker.kill('SIGKILL');
      throw new Error(`the worker process did not poll within ${timeoutMs / 1000} s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return worker;
}
