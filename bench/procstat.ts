// CPU time and resident memory of the processes a benchmark phase runs on, read from Linux's
// /proc (utime + stime in /proc/<pid>/stat, VmRSS in /proc/<pid>/status). Elsewhere, or for a
// process this user may not read, the numbers are null rather than guessed.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux (`getconf CLK_TCK`)

/** Milliseconds of CPU (user + system) a process has used, or null when it cannot be read. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Resident set size in MB, or null. */
export function rssMb(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}

/** The process and every descendant (a CLI that forks its server counts with it). */
export function withDescendants(pid: number): number[] {
  const pids = allPids();
  const children = new Map<number, number[]>();
  for (const p of pids) {
    const parent = parentOf(p);
    if (parent !== null) children.set(parent, [...(children.get(parent) ?? []), p]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const next = queue.shift()!;
    out.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return out;
}

/** The pid listening on a TCP port of this machine (for a Temporal server given by address), or null. */
export function listeningPid(port: number): number | null {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length < 10 || cols[3] !== '0A') continue; // 0A: LISTEN
        if (Number.parseInt(cols[1].split(':')[1], 16) === port) inodes.add(cols[9]);
      }
    } catch {
      // no such table
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (match && inodes.has(match[1])) return pid;
      } catch {
        // gone meanwhile
      }
    }
  }
  return null;
}

/** A group of processes (one role: the API, the worker, Temporal, PostgreSQL's backends). */
export interface Group {
  name: string;
  pids: () => Promise<number[]> | number[];
}

export interface CpuWindow {
  /** CPU milliseconds per group over the window; null when no process of the group could be read. */
  stop(): Promise<Record<string, number | null>>;
}

/**
 * Starts a CPU window over the groups. A process that appears during the window counts from
 * zero (its whole life is inside the window); one that ends during it loses its last share
 * (PostgreSQL backends live as long as their pool's connection, so this is rare).
 */
export async function cpuWindow(groups: Group[]): Promise<CpuWindow> {
  const before = new Map<string, Map<number, number>>();
  for (const group of groups) {
    const seen = new Map<number, number>();
    for (const pid of await group.pids()) {
      const ms = cpuMs(pid);
      if (ms !== null) seen.set(pid, ms);
    }
    before.set(group.name, seen);
  }
  return {
    async stop() {
      const out: Record<string, number | null> = {};
      for (const group of groups) {
        const start = before.get(group.name)!;
        let total = 0;
        let read = false;
        for (const pid of await group.pids()) {
          const ms = cpuMs(pid);
          if (ms === null) continue;
          read = true;
          total += ms - (start.get(pid) ?? 0);
        }
        out[group.name] = read ? total : null;
      }
      return out;
    },
  };
}

/** Summed RSS in MB of a group, or null. */
export async function groupRssMb(group: Group): Promise<number | null> {
  let total = 0;
  let read = false;
  for (const pid of await group.pids()) {
    const mb = rssMb(pid);
    if (mb === null) continue;
    read = true;
    total += mb;
  }
  return read ? Math.round(total) : null;
}
