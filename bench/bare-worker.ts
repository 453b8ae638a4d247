// The bare-Temporal baseline's worker, a process of its own as Countersign's is: polls
// BENCH_BARE_QUEUE on TEMPORAL_ADDRESS (TEMPORAL_NAMESPACE) and runs bare-workflow.ts, whose one
// activity inserts a row into bench_bare_deployments in DATABASE_URL. Prints "bare worker
// polling" once it polls. Stops on SIGINT or SIGTERM.

import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Pool } from 'pg';

export const BARE_TABLE = 'bench_bare_deployments';
export const BARE_TABLE_DDL = `CREATE TABLE IF NOT EXISTS ${BARE_TABLE} (id text PRIMARY KEY, approvers text[] NOT NULL, deployed_at timestamptz NOT NULL DEFAULT now())`;

export function bareActivities(pool: Pool) {
  return {
    async recordDeployed(id: string, approvers: string[]): Promise<void> {
      await pool.query(`INSERT INTO ${BARE_TABLE} (id, approvers) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, [id, approvers]);
    },
  };
}
export type BareActivities = ReturnType<typeof bareActivities>;

async function main(): Promise<void> {
  const env = process.env; // a dev-only program: the benchmark hands it these four
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: 10 });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.BENCH_BARE_QUEUE ?? 'bench-bare',
    workflowsPath: require.resolve('./bare-workflow'),
    activities: bareActivities(pool),
  });
  console.log('bare worker polling');
  await worker.run();
  await connection.close();
  await pool.end();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`bare worker failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
