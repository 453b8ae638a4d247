// `npm run bench` is where speed claims come from (bench/run.ts); the suite never times anything
// for speed. It only checks that the benchmark runs, at its tiniest size, against the suite's
// own servers (a fresh Temporal namespace and a fresh database on them), and that what it writes
// has the shape the README and the goals rely on.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { README_BEGIN, README_END } from '../../bench/report';

const root = path.resolve(__dirname, '..', '..');
jest.setTimeout(150_000);

function runBench(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', path.join(root, 'test', 'support', 'register-ts.js'), path.join(root, 'bench', 'run.ts'), ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 140_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm run bench', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'countersign-bench-test-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs at the tiniest size against the suite servers and writes the results as JSON and a Markdown table with every goal judged', async () => {
    const { code, output } = await runBench(['--tiny', `--out=${out}`], {
      ...process.env,
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS,
      DATABASE_URL: process.env.COUNTERSIGN_TEST_PG,
    });
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });

    const results = JSON.parse(readFileSync(path.join(out, 'latest.json'), 'utf8'));
    expect(results.size).toBe('tiny');
    expect(results.machine).toEqual(expect.objectContaining({ cpus: expect.any(Number), memoryGiB: expect.any(Number), node: process.version }));
    expect(Number.isNaN(Date.parse(results.at))).toBe(false);
    // Both sides of every comparison were measured, with no failed call.
    for (const side of ['countersign', 'bare']) {
      expect(results.throughput[side]).toEqual(expect.objectContaining({ perSecond: expect.any(Number), errors: 0 }));
      expect(results.throughput[side].cpuMsPerDeployment).toEqual(expect.objectContaining({ worker: expect.any(Number), temporal: expect.any(Number) }));
      expect(results.latency[side]).toEqual(expect.objectContaining({ p50Ms: expect.any(Number), p95Ms: expect.any(Number), p99Ms: expect.any(Number), errors: 0 }));
      // A deployment's first approval and the one that meets its quorum, apart.
      for (const nth of ['first', 'quorum']) expect(results.latency[side][nth]).toEqual(expect.objectContaining({ n: expect.any(Number), p99Ms: expect.any(Number) }));
      expect(results.coldStart[side].workerMs).toEqual(expect.any(Number));
      for (const step of results.pending.steps) {
        expect(step[side].approval).toEqual(expect.objectContaining({ p99Ms: expect.any(Number), errors: 0 }));
        expect(step[side].workerRssMb).toEqual(expect.any(Number));
      }
    }
    expect(results.throughput.countersign.cpuMsPerDeployment.api).toEqual(expect.any(Number));
    expect(results.coldStart.countersign.apiMs).toEqual(expect.any(Number));
    expect(results.pending.steps.map((s: { pending: number }) => s.pending)).toEqual([2, 4]);
    expect(results.lag.index.n).toBeGreaterThan(0);
    expect(results.lag.trail.n).toBeGreaterThan(0);
    // The tiny run makes fewer deployments than its 50 listed rows: the rest are copies of them.
    expect(results.list.rows).toBe(50);
    expect(results.list.seededRows).toBeGreaterThan(0);
    expect(results.list.queries.length).toBeGreaterThanOrEqual(5);
    expect(results.throughput.ratio).toEqual(expect.any(Number));
    expect(results.latency.ratioP99).toEqual(expect.any(Number));
    // The six goals of issue 9, each judged from what was measured (at this size, with its caveat).
    expect(results.goals).toHaveLength(6);
    for (const goal of results.goals) expect(goal).toEqual(expect.objectContaining({ goal: expect.any(String), target: expect.any(String), met: expect.any(Boolean) }));

    const table = readFileSync(path.join(out, 'latest.md'), 'utf8');
    expect(table).toContain('| goal (issue 9) | target | measured | verdict |');
    expect(table).toContain('| measure | Countersign | bare Temporal | ratio |');
    expect(table).toContain('| … the approval that meets the quorum (and starts the deploy) |');
    expect(table).toContain(`Node ${process.version}`);
    expect(table.match(/\*\*(not )?met\*\*/g)).toHaveLength(6);
  });

  it('shows the committed latest table in the README between the generated markers', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const begin = readme.indexOf(README_BEGIN);
    const end = readme.indexOf(README_END);
    expect(begin).toBeGreaterThan(readme.indexOf('## Benchmarks'));
    expect(end).toBeGreaterThan(begin);
    const latest = readFileSync(path.join(root, 'bench', 'results', 'latest.md'), 'utf8').replace(/^### /, '#### ');
    expect(readme.slice(begin + README_BEGIN.length, end).trim()).toBe(latest.trim());
  });
});
