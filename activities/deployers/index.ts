// The ways Countersign hands an approved artifact to the system that deploys it.

import { log } from '@temporalio/activity';
import { spawn } from 'node:child_process';
import type { DeploymentRequest, DeployerSpec } from '../../policy/types';
import { SIGNATURE_HEADER, signBody } from '../signing';

export interface DeployContext {
  request: DeploymentRequest;
  digest: string;
  /**
   * Which run of this deployment this is, from 1. A run interrupted by a crash runs again (at
   * least once); every run carries the same idempotency key (the deployment id).
   */
  attempt: number;
  /** Called while a long deploy runs, so Temporal knows the worker is alive. */
  heartbeat: () => void;
  signal?: AbortSignal;
}

export class DeployerFailure extends Error {
  constructor(message: string, readonly output?: string) {
    super(message);
  }
}

const OUTPUT_LIMIT = 64 * 1024;

function keepTail(text: string): string {
  return text.length > OUTPUT_LIMIT ? `…${text.slice(-OUTPUT_LIMIT)}` : text;
}

/** The deployment as deployers receive it: exactly the approved digest, nothing else to choose. */
export function deployPayload({ request, digest }: Pick<DeployContext, 'request' | 'digest'>) {
  return {
    deploymentId: request.id,
    service: request.service,
    environment: request.environment,
    artifact: { name: request.artifact.name, digest },
    commit: request.change.commit,
    tier: request.rule.tier,
    requestedBy: request.requester.id,
  };
}

export function deployEnvironment({ request, digest, attempt }: Pick<DeployContext, 'request' | 'digest' | 'attempt'>): Record<string, string> {
  return {
    COUNTERSIGN_IDEMPOTENCY_KEY: request.id,
    COUNTERSIGN_DEPLOY_ATTEMPT: String(attempt),
    COUNTERSIGN_DEPLOYMENT_ID: request.id,
    COUNTERSIGN_SERVICE: request.service,
    COUNTERSIGN_ENVIRONMENT: request.environment,
    COUNTERSIGN_ARTIFACT_NAME: request.artifact.name,
    COUNTERSIGN_ARTIFACT_DIGEST: digest,
    COUNTERSIGN_COMMIT: request.change.commit,
  };
}

/**
 * The worker's environment minus Countersign's own settings: a deploy script keeps PATH and
 * its cloud credentials, but never sees the database URL or any Countersign secret.
 */
function inheritedEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(COUNTERSIGN_|TEMPORAL_|DATABASE_URL$)/.test(name)),
  );
}

async function runCommand(run: string[], context: DeployContext): Promise<string> {
  const [command, ...args] = run;
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(command, args, {
      env: { ...inheritedEnvironment(), ...deployEnvironment(context) },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: context.signal,
    });
    const collect = (chunk: Buffer) => {
      output = keepTail(output + chunk.toString('utf8'));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const beat = setInterval(context.heartbeat, 2_000);
    child.on('error', (err) => {
      clearInterval(beat);
      reject(new DeployerFailure(`could not run ${command}: ${err.message}`, output));
    });
    child.on('close', (code, signal) => {
      clearInterval(beat);
      if (code === 0) resolve(output);
      else reject(new DeployerFailure(`${command} exited with ${signal ? `signal ${signal}` : `code ${code}`}${output.trim() ? `: ${output.trim().split('\n').slice(-3).join(' | ')}` : ''}`, output));
    });
  });
}

async function callWebhook(url: string, secret: string | undefined, context: DeployContext): Promise<string> {
  const body = JSON.stringify(deployPayload(context));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'idempotency-key': context.request.id,
    'x-countersign-delivery': context.request.id,
    'x-countersign-deploy-attempt': String(context.attempt),
  };
  if (secret) headers[SIGNATURE_HEADER] = signBody(secret, body);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.any([AbortSignal.timeout(60_000), ...(context.signal ? [context.signal] : [])]),
    });
  } catch (err) {
    throw new DeployerFailure(`webhook ${url} could not be reached: ${(err as Error).message}`);
  }
  const text = keepTail(await response.text().catch(() => ''));
  if (!response.ok) throw new DeployerFailure(`webhook ${url} answered ${response.status}${text ? `: ${text.slice(0, 500)}` : ''}`, text);
  return text;
}

export async function runDeployer(spec: DeployerSpec, context: DeployContext): Promise<string> {
  switch (spec.type) {
    case 'log': {
      const line = `deploy ${context.request.service} to ${context.request.environment}: ${context.request.artifact.name}@${context.digest}`;
      // The activity's logger: the worker's JSON lines, with the workflow and activity ids.
      log.info(line, { deploymentId: context.request.id, deployer: 'log', attempt: context.attempt });
      return line;
    }
    case 'command':
      return runCommand(spec.run, context);
    case 'webhook':
      return callWebhook(spec.url, spec.secret, context);
  }
}
