// Shared plumbing for the embedded servers (Temporal dev server, PostgreSQL): owning child
// processes, recognising the leftovers of an earlier run that was killed, and picking ports.

import { execFile, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when a process with this pid exists, whoever owns it. */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else, which still means "alive".
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The full command line, as `ps` prints it. */
  command: string;
}

/**
 * Looks a process up: /proc on Linux, `ps` elsewhere (macOS). Undefined when it cannot tell,
 * either because the process is gone or because neither source is available (slim containers
 * ship without ps); callers that found the pid alive must treat undefined as "unknown", not "gone".
 */
export async function describeProcess(pid: number): Promise<ProcessInfo | undefined> {
  if (process.platform === 'linux') {
    try {
      const [stat, cmdline] = await Promise.all([
        fs.readFile(`/proc/${pid}/stat`, 'utf8'),
        fs.readFile(`/proc/${pid}/cmdline`, 'utf8'),
      ]);
      // "pid (comm) state ppid ...": comm may itself contain spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/)[1]);
      const command = cmdline.split('\0').filter(Boolean).join(' ');
      if (Number.isInteger(ppid)) return { pid, ppid, command };
    } catch {
      /* fall through to ps */
    }
  }
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'ppid=', '-o', 'args=', '-p', String(pid)], (err, stdout) => {
      if (err) return resolve(undefined);
      const match = /^\s*(\d+)\s+(.*)$/m.exec(stdout);
      resolve(match ? { pid, ppid: Number(match[1]), command: match[2].trim() } : undefined);
    });
  });
}

/** Whether `arg` appears as a whole argument (not a prefix of a longer path) in a command line. */
export function commandHasArg(command: string, arg: string): boolean {
  const escaped = arg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|\\s)${escaped}(\\s|$)`).test(command);
}

/** Polls for a process we did not spawn (so have no 'exit' event for) to disappear. */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Stops a process that is not our child (an orphan from a killed earlier run): a polite signal
 * first, then SIGKILL. Returns false if it is still there afterwards.
 */
export async function terminatePid(
  pid: number,
  steps: Array<{ signal: NodeJS.Signals; waitMs: number }>,
): Promise<boolean> {
  for (const { signal, waitMs } of steps) {
    try {
      process.kill(pid, signal);
    } catch {
      return !isProcessAlive(pid);
    }
    if (await waitForPidExit(pid, waitMs)) return true;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  return waitForPidExit(pid, 5_000);
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves when the child exits (immediately if it already has). */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (hasExited(child)) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Escalating stop for a child we own. Each step sends a signal and waits up to waitMs for the
 * exit; SIGKILL comes last whatever the steps say, so the caller never hangs on a wedged server.
 */
export async function stopChild(
  child: ChildProcess,
  steps: Array<{ signal: NodeJS.Signals; waitMs: number }>,
): Promise<void> {
  // Never spawned (ENOENT and the like): there is nothing to signal, and no 'exit' will come.
  if (child.pid === undefined) return;
  const exited = exitOf(child);
  for (const { signal, waitMs } of [...steps, { signal: 'SIGKILL' as const, waitMs: 5_000 }]) {
    if (hasExited(child)) return;
    child.kill(signal);
    // A cleared timer, not a bare sleep() in a race: a pending 15 s sleep would keep the event
    // loop (and so a CLI or a test run) alive long after the child has gone.
    const timedOut = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(true), waitMs);
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!timedOut) return;
  }
}

// One 'exit' listener for every child, rather than one each, so that starting servers
// repeatedly (tests) does not trip Node's MaxListeners warning.
const ownedChildren = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;

/**
 * Signals the child when this process exits, however it exits normally (end of event loop,
 * process.exit, uncaught exception). 'exit' handlers must be synchronous, so the signal is all we
 * can do: the child finishes shutting down on its own. A parent killed by SIGKILL, or by a signal
 * it does not handle, never emits 'exit'; callers should handle SIGINT/SIGTERM and call stop(),
 * and the start functions reap what an abrupt death leaves behind. Returns an unregister function.
 */
export function signalOnParentExit(child: ChildProcess, signal: NodeJS.Signals): () => void {
  ownedChildren.set(child, signal);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const [owned, sig] of ownedChildren) {
        if (!hasExited(owned)) {
          try {
            owned.kill(sig);
          } catch {
            /* nothing more can be done while exiting */
          }
        }
      }
    });
  }
  const forget = () => ownedChildren.delete(child);
  child.once('exit', forget);
  return () => {
    forget();
    child.off('exit', forget);
  };
}

/** Keeps the last `maxChars` of a child's output, to quote when it fails. */
export class OutputTail {
  private text = '';

  constructor(private readonly maxChars = 8_000) {}

  push(chunk: string | Buffer): void {
    this.text += chunk.toString();
    if (this.text.length > this.maxChars) this.text = this.text.slice(-this.maxChars);
  }

  toString(): string {
    return this.text.trim();
  }
}

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Asks the kernel for an unused port. It is only free at the moment we look, so callers that
 * hand it to another process should be ready to retry if that process loses the race.
 */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error(`could not find a free port on ${host}`))));
    });
  });
}
