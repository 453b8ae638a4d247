// The benchmark's results: percentile summaries, the issue's goals (ratios against bare
// Temporal) judged met or not met, the Markdown table, and the README's generated section.

import { readFileSync, writeFileSync } from 'node:fs';

export interface Summary {
  n: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
}

/** Nearest-rank percentiles; an empty sample gives nulls, never a made-up number. */
export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const at = (q: number) => (n ? round(sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]) : null);
  return {
    n,
    p50Ms: at(0.5),
    p95Ms: at(0.95),
    p99Ms: at(0.99),
    maxMs: n ? round(sorted[n - 1]) : null,
    meanMs: n ? round(sorted.reduce((sum, x) => sum + x, 0) / n) : null,
  };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : round(a / b, 2);
}

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  /** null: not measured in this run (e.g. a phase failed). */
  met: boolean | null;
  /** Set when this run was smaller than the size the goal names: the verdict is for the size run. */
  caveat?: string;
}

const fmt = (x: number | null | undefined, unit = '') => (x == null ? 'n/a' : `${x.toLocaleString('en-US')}${unit}`);

/** The issue's goals, judged from the results (see bench/run.ts for how each is measured). */
export function judgeGoals(r: any): Goal[] {
  const goals: Goal[] = [];
  const t = r.throughput;
  goals.push({
    goal: `end-to-end throughput at ${t.inFlight} in flight`,
    target: '≥ 0.8× bare',
    measured: `${fmt(t.countersign.perSecond)}/s vs ${fmt(t.bare.perSecond)}/s = ${fmt(t.ratio)}×`,
    met: t.ratio == null ? null : t.ratio >= 0.8,
  });
  const l = r.latency;
  goals.push({
    goal: `approval p99 at ${l.ratePerSecond}/s open loop`,
    target: '≤ 1.5× bare',
    measured: `${fmt(l.countersign.p99Ms, ' ms')} vs ${fmt(l.bare.p99Ms, ' ms')} = ${fmt(l.ratioP99)}×`,
    met: l.ratioP99 == null ? null : l.ratioP99 <= 1.5,
  });
  const p = r.pending;
  const sizes: number[] = p.steps.map((s: any) => s.pending);
  const small = sizes.length ? sizes[0] : null;
  const large = sizes.length ? sizes[sizes.length - 1] : null;
  const sweepCaveat = large !== null && large < 10_000 ? `run at ${fmt(small)} → ${fmt(large)} pending, not 100 → 10,000` : undefined;
  goals.push({
    goal: `approval p99 growth, ${fmt(small)} → ${fmt(large)} pending`,
    target: '≤ 1.3×',
    measured: `${fmt(p.growth.countersign)}× (bare ${fmt(p.growth.bare)}×)`,
    met: p.growth.countersign == null ? null : p.growth.countersign <= 1.3,
    caveat: sweepCaveat,
  });
  const last = p.steps[p.steps.length - 1];
  const rss = last?.countersign?.workerRssMb ?? null;
  goals.push({
    goal: `worker RSS at ${fmt(large)} pending`,
    target: '≤ 400 MB',
    measured: `${fmt(rss, ' MB')} (bare ${fmt(last?.bare?.workerRssMb, ' MB')})`,
    met: rss == null ? null : rss <= 400,
    caveat: sweepCaveat,
  });
  const lag = r.lag;
  const worstLag = lag.index.p99Ms == null || lag.trail.p99Ms == null ? null : Math.max(lag.index.p99Ms, lag.trail.p99Ms, lag.timeouts ? Infinity : 0);
  goals.push({
    goal: `listing index and audit trail lag behind an approval's 200, at ${l.ratePerSecond}/s`,
    target: '≤ 2,000 ms p99',
    measured: `index ${fmt(lag.index.p99Ms, ' ms')}, trail ${fmt(lag.trail.p99Ms, ' ms')} p99 (${lag.index.n} samples${lag.timeouts ? `, ${lag.timeouts} not seen within ${lag.timeoutMs / 1000} s` : ''})`,
    met: worstLag == null ? null : worstLag <= 2_000,
  });
  const worstList = r.list.queries.reduce((worst: number | null, q: any) => (q.p99Ms == null ? worst : Math.max(worst ?? 0, q.p99Ms)), null);
  goals.push({
    goal: `GET /v1/deployments p99 at ${fmt(r.list.rows)} rows, worst of ${r.list.queries.length} filters`,
    target: '≤ 50 ms',
    measured: fmt(worstList, ' ms'),
    met: worstList == null ? null : worstList <= 50,
    caveat: r.list.rows != null && r.list.rows < 10_000
      ? `${fmt(r.list.rows)} rows, not 10,000`
      : r.list.seededRows ? `${fmt(r.list.seededRows)} of the rows are copies of the run's own` : undefined,
  });
  return goals;
}

const verdict = (g: Goal) => (g.met === null ? 'not measured' : g.met ? '**met**' : '**not met**') + (g.caveat ? ` (${g.caveat})` : '');

/** The Markdown table of one run: the goals first, then every measure side by side. */
export function markdown(r: any): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(`### Countersign against bare Temporal (${r.size} run, ${r.at})`);
  lines.push('');
  lines.push(
    `${m.cpus} × ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; load average ${m.loadAverage.start.join(' / ')} at the start, ` +
      `${m.loadAverage.end.join(' / ')} at the end. One Temporal dev server and one PostgreSQL for both, on this machine; ` +
      `Countersign's API and worker and the bare worker are processes of their own; the load generator runs on the same cores.` +
      (r.note ? ` ${r.note}` : ''),
  );
  lines.push('');
  lines.push('| goal (issue 9) | target | measured | verdict |');
  lines.push('| --- | --- | --- | --- |');
  for (const g of r.goals as Goal[]) lines.push(`| ${g.goal} | ${g.target} | ${g.measured} | ${verdict(g)} |`);
  lines.push('');
  lines.push('| measure | Countersign | bare Temporal | ratio |');
  lines.push('| --- | --- | --- | --- |');
  const row = (name: string, c: string, b: string, q: number | null | string) => lines.push(`| ${name} | ${c} | ${b} | ${typeof q === 'string' ? q : fmt(q, q == null ? '' : '×')} |`);
  const t = r.throughput;
  row(`deployments carried to DEPLOYED per second, ${t.inFlight} in flight (${t.countersign.deployments} each)`, fmt(t.countersign.perSecond), fmt(t.bare.perSecond), t.ratio);
  const cpu = (side: any, key: string) => fmt(side.cpuMsPerDeployment?.[key], ' ms');
  for (const key of ['app', 'temporal', 'postgres', 'total']) {
    const label = key === 'app' ? 'app (Countersign: API + worker; bare: worker)' : key === 'postgres' ? 'PostgreSQL backends of the bench database' : key === 'total' ? 'total (app + Temporal + PostgreSQL)' : 'Temporal dev server';
    row(`CPU per deployment: ${label}`, cpu(t.countersign, key), cpu(t.bare, key), ratio(t.countersign.cpuMsPerDeployment?.[key], t.bare.cpuMsPerDeployment?.[key]));
  }
  row('… of which the API / the worker', `${cpu(t.countersign, 'api')} / ${cpu(t.countersign, 'worker')}`, `– / ${cpu(t.bare, 'worker')}`, '–');
  const l = r.latency;
  const pct = (s: any) => `${fmt(s.p50Ms)} / ${fmt(s.p95Ms)} / ${fmt(s.p99Ms)} ms`;
  row(`approval p50 / p95 / p99 at ${l.ratePerSecond}/s open loop, ${l.seconds} s`, pct(l.countersign) + errs(l.countersign), pct(l.bare) + errs(l.bare), l.ratioP99);
  // (Runs from before the split have no `first` and `quorum`.)
  if (l.countersign.first && l.countersign.quorum) {
    row('… a deployment\'s first approval', pct(l.countersign.first), pct(l.bare.first), ratio(l.countersign.first.p99Ms, l.bare.first.p99Ms));
    row('… the approval that meets the quorum (and starts the deploy)', pct(l.countersign.quorum), pct(l.bare.quorum), ratio(l.countersign.quorum.p99Ms, l.bare.quorum.p99Ms));
  }
  for (const s of r.pending.steps) {
    row(`approval p99 at ${s.ratePerSecond}/s with ${fmt(s.pending)} pending`, fmt(s.countersign.approval.p99Ms, ' ms') + errs(s.countersign.approval), fmt(s.bare.approval.p99Ms, ' ms') + errs(s.bare.approval), ratio(s.countersign.approval.p99Ms, s.bare.approval.p99Ms));
    row(`worker RSS with ${fmt(s.pending)} pending`, fmt(s.countersign.workerRssMb, ' MB'), fmt(s.bare.workerRssMb, ' MB'), ratio(s.countersign.workerRssMb, s.bare.workerRssMb));
    row(`Temporal RSS with ${fmt(s.pending)} pending (each side's; one shared server)`, fmt(s.countersign.temporalRssMb, ' MB'), fmt(s.bare.temporalRssMb, ' MB'), '–');
    if (s.countersign.createdPerSecond != null) row(`creating pending requests up to ${fmt(s.pending)}, per second`, fmt(s.countersign.createdPerSecond), fmt(s.bare.createdPerSecond), ratio(s.countersign.createdPerSecond, s.bare.createdPerSecond));
  }
  row(`approval p99 growth ${r.pending.steps.map((s: any) => fmt(s.pending)).join(' → ')} pending`, `${fmt(r.pending.growth.countersign)}×`, `${fmt(r.pending.growth.bare)}×`, '–');
  row(`listing index lag behind an approval's 200 (p50 / p99)`, `${fmt(r.lag.index.p50Ms)} / ${fmt(r.lag.index.p99Ms)} ms`, '–', '–');
  row(`audit trail lag behind an approval's 200 (p50 / p99)`, `${fmt(r.lag.trail.p50Ms)} / ${fmt(r.lag.trail.p99Ms)} ms`, '–', '–');
  for (const q of r.list.queries) row(`GET /v1/deployments${q.query} p50 / p99 at ${fmt(r.list.rows)} rows`, `${fmt(q.p50Ms)} / ${fmt(q.p99Ms)} ms`, '–', '–');
  const c = r.coldStart;
  row('cold start: worker start to its first workflow task done', fmt(c.countersign.workerMs, ' ms'), fmt(c.bare.workerMs, ' ms'), ratio(c.countersign.workerMs, c.bare.workerMs));
  row('cold start: API start to its first answer (GET /healthz)', fmt(c.countersign.apiMs, ' ms'), '–', '–');
  lines.push('');
  lines.push(
    'How each is measured: bench/run.ts. Bare Temporal is a workflow of the same shape (start, two approval updates answered at once, one activity ' +
      'inserting one PostgreSQL row), driven through the Temporal client; Countersign is driven through its HTTP API. "DEPLOYED" is the workflow\'s ' +
      'result. Open-loop latency is timed from each request\'s scheduled send time. CPU is utime + stime from /proc, per deployment over the throughput phase.',
  );
  return `${lines.join('\n')}\n`;
}

function errs(s: any): string {
  const notes = [s.errors ? `${s.errors} errors` : '', s.notDeployedWithinDrain ? `${s.notDeployedWithinDrain} not DEPLOYED 3 min later` : ''].filter(Boolean);
  return notes.length ? ` (${notes.join(', ')})` : '';
}

export const README_BEGIN = '<!-- bench:begin (generated by npm run bench from bench/results/latest.md; do not edit by hand) -->';
export const README_END = '<!-- bench:end -->';

/** Replaces the README's text between the markers with the table; false when the markers are missing. */
export function rewriteReadme(readmePath: string, table: string): boolean {
  const text = readFileSync(readmePath, 'utf8');
  const begin = text.indexOf(README_BEGIN);
  const end = text.indexOf(README_END);
  if (begin < 0 || end < begin) return false;
  const next = `${text.slice(0, begin + README_BEGIN.length)}\n${table.replace(/^### /, '#### ')}${text.slice(end)}`;
  if (next !== text) writeFileSync(readmePath, next);
  return true;
}
