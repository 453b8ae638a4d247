// The `countersign` command as a real child process, run from source (cli/countersign.ts through
// register-ts.js, as bin/countersign.js runs the build), with only the environment a test gives.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
export const CLI_ENTRY = path.join(root, 'cli', 'countersign.ts');
export const REGISTER_TS = path.join(__dirname, 'register-ts.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliResult>;
  /** Resolves with the first match of `pattern` in stdout (or rejects with what was printed). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(): void;
}

let home: string | undefined;

/** A clean environment: PATH and a HOME of its own, then `env`; nothing else of the test's. */
export function cliEnv(env: Record<string, string | undefined>): Record<string, string> {
  home ??= mkdtempSync(path.join(tmpdir(), 'countersign-cli-home-'));
  const out: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

export function runCli(args: string[], env: Record<string, string | undefined>, options: { cwd?: string } = {}): CliRun {
  const child = spawn(process.execPath, ['-r', REGISTER_TS, CLI_ENTRY, ...args], {
    cwd: options.cwd ?? root,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
    for (const listener of listeners) listener();
  });
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (match) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(match);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no ${pattern} in ${timeoutMs} ms; stdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => setTimeout(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`the CLI exited without ${pattern}; stdout: ${stdout}\nstderr: ${stderr}`));
          }
        }, 50));
        check();
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

/** Runs it to the end. */
export function cli(args: string[], env: Record<string, string | undefined>, options: { cwd?: string } = {}): Promise<CliResult> {
  return runCli(args, env, options).exited;
}
