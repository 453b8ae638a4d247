// `npm start` as a person runs it: the built supervisor (dist/local/start.js) of a checkout, in
// its own process, read from its output the way a person reads the terminal.

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export interface StartRun {
  child: ChildProcess;
  output: () => string;
}

/** Starts the built `npm start` of the checkout at `dir` (after `tsc -p tsconfig.build.json`). */
export function runStart(dir: string, env: NodeJS.ProcessEnv, ...args: string[]): StartRun {
  let output = '';
  const child = spawn(process.execPath, [path.join(dir, 'dist', 'local', 'start.js'), ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return { child, output: () => output };
}

/** Waits for the banner's last line; what was printed up to then. */
export async function startReady(run: StartRun, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!run.output().includes('Ctrl-C stops all of it')) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready in ${timeoutMs / 1000} s:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return run.output();
}

/** Ctrl-C, as a person stops it; the exit code. */
export async function stopStart(run: StartRun): Promise<number | null> {
  if (run.child.exitCode !== null) return run.child.exitCode;
  run.child.kill('SIGINT');
  return new Promise((resolve) => run.child.once('exit', (code) => resolve(code)));
}
