// `node dist/local/install-temporal-cli.js`: resolves (installing if needed) the Temporal CLI and
// prints its path on stdout, so CI can pre-install it in a cached step and scripts can capture it.
// Progress goes to stderr to keep stdout to the one path.

import { findOrInstallTemporalCli } from './temporal-cli';

export async function main(): Promise<number> {
  try {
    const cli = await findOrInstallTemporalCli();
    if (!cli) {
      process.stderr.write('No Temporal CLI available and it could not be installed (see above). Set TEMPORAL_CLI to a Temporal CLI binary.\n');
      return 1;
    }
    process.stdout.write(`${cli}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main().then((code) => {
    process.exitCode = code;
  });
}
