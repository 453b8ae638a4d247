// The production shape (docker-compose.yml) as Docker Compose itself reads it: `docker compose
// config` resolves variables, anchors and defaults without a Docker engine. Skipped, saying why,
// where Compose v2 is not installed; COUNTERSIGN_REQUIRE_COMPOSE=1 turns that skip into a failure.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SearchKeys } from '../../workflows/definitions';
import { MALLOC_ARENA_MAX } from '../../settings/settings';
import { DEPLOY_SEARCH_ATTRIBUTES } from '../../settings/temporal';

const ROOT = path.resolve(__dirname, '../..');

const SECRETS = {
  POSTGRES_PASSWORD: 'test-superuser-password',
  TEMPORAL_DB_PASSWORD: 'test-temporal-password',
  COUNTERSIGN_DB_PASSWORD: 'test-countersign-password',
  COUNTERSIGN_ADMIN_TOKEN: 'test-admin-token',
};

/** The search attributes the workflow upserts, with the CLI's names for their types. */
const SEARCH_ATTRIBUTES: Record<string, string> = DEPLOY_SEARCH_ATTRIBUTES;

interface Port {
  target: number;
  published?: string;
  host_ip?: string;
}
interface Mount {
  type: string;
  source: string;
  target: string;
  read_only?: boolean;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: Port[];
  volumes?: Mount[];
  networks?: Record<string, unknown>;
  restart?: string;
  user?: string;
}
interface ComposeConfig {
  services: Record<string, Service>;
  networks: Record<string, { internal?: boolean }>;
  volumes: Record<string, unknown>;
}

/** A clean environment: the caller's COMPOSE_* settings must not change what is checked. */
function composeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('COMPOSE_') && !(key in SECRETS)) env[key] = value;
  }
  return { ...env, ...extra };
}

/** An empty env file, so a developer's .env next to docker-compose.yml cannot fill in a secret. */
function emptyEnvFile(): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'countersign-compose-')), 'empty.env');
  writeFileSync(file, '');
  return file;
}

function compose(args: string[], env: Record<string, string>, overrides: string[] = []) {
  const files = ['docker-compose.yml', ...overrides].flatMap((file) => ['-f', file]);
  return spawnSync('docker', ['compose', '--env-file', emptyEnvFile(), ...files, ...args], {
    cwd: ROOT,
    env: composeEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
}

function composeUnavailable(): string | undefined {
  const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 30_000 });
  if ((probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'the docker binary is not on PATH';
  if (probe.error) return `\`docker compose version\` failed: ${probe.error.message}`;
  if (probe.status !== 0) {
    return `\`docker compose\` (Compose v2) is not installed: ${(probe.stderr || probe.stdout).trim().split('\n')[0]}`;
  }
  return undefined;
}

const unavailable = composeUnavailable();
if (unavailable && process.env.COUNTERSIGN_REQUIRE_COMPOSE === '1') {
  throw new Error(`COUNTERSIGN_REQUIRE_COMPOSE=1 but ${unavailable}`);
}
if (unavailable) {
  // eslint-disable-next-line no-console
  console.warn(`[docker-compose.test] skipped: ${unavailable}`);
}
const describeCompose = unavailable ? describe.skip : describe;

describeCompose('docker-compose.yml', () => {
  let config: ComposeConfig;
  let services: Record<string, Service>;

  beforeAll(() => {
    const result = compose(['config', '--format', 'json'], SECRETS);
    if (result.status !== 0) throw new Error(`docker compose config failed:\n${result.stderr}`);
    config = JSON.parse(result.stdout) as ComposeConfig;
    services = config.services;
  });

  const service = (name: string): Service => {
    const found = services[name];
    if (!found) throw new Error(`no service ${name}; have ${Object.keys(services).join(', ')}`);
    return found;
  };
  const script = (name: string): string => (service(name).command ?? []).join('\n');

  it('has the services of the production shape', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['api', 'postgresql', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', 'worker'].sort(),
    );
  });

  it('pins every upstream image, and keeps Temporal server and admin-tools on one release', () => {
    const images = Object.values(services)
      .map((s) => s.image)
      .filter((image): image is string => !!image && !image.startsWith('countersign:'));
    for (const image of images) {
      expect(image).toMatch(/:[^:]+$/);
      expect(image).not.toMatch(/:latest$/);
      expect(image).not.toMatch(/^temporalio\/auto-setup/);
    }
    const server = service('temporal').image!.split(':')[1];
    expect(service('temporal').image).toMatch(/^temporalio\/server:1\.(29|[3-9]\d)\.\d+$/);
    expect(service('temporal-schema').image).toBe(`temporalio/admin-tools:${server}`);
    expect(service('temporal-setup').image).toBe(`temporalio/admin-tools:${server}`);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:2\.\d+\.\d+$/);
    expect(service('postgresql').image).toMatch(/^postgres:\d+/);
  });

  it('keeps PostgreSQL on a volume, with a health check and the init script', () => {
    const pg = service('postgresql');
    expect(pg.volumes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'volume', source: 'postgresql-data', target: '/var/lib/postgresql/data' }),
        expect.objectContaining({
          type: 'bind',
          source: path.join(ROOT, 'deploy/postgres-init'),
          target: '/docker-entrypoint-initdb.d',
          read_only: true,
        }),
      ]),
    );
    expect(Object.keys(config.volumes)).toContain('postgresql-data');
    expect(pg.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(pg.environment?.POSTGRES_PASSWORD).toBe(SECRETS.POSTGRES_PASSWORD);
    expect(pg.ports ?? []).toEqual([]);
    const init = readFileSync(path.join(ROOT, 'deploy/postgres-init/10-countersign.sh'), 'utf8');
    for (const statement of [
      'CREATE DATABASE countersign OWNER countersign',
      'CREATE DATABASE temporal OWNER temporal',
      'CREATE DATABASE temporal_visibility OWNER temporal',
    ]) {
      expect(init).toContain(statement);
    }
  });

  it('sets up the Temporal schema with admin-tools before the server starts', () => {
    const schema = script('temporal-schema');
    for (const db of ['temporal', 'temporal_visibility']) {
      expect(schema).toContain(`--plugin postgres12 --ep postgresql -p 5432 -u temporal --db ${db} setup-schema -v 0.0`);
      expect(schema).toContain(`--db ${db} update-schema -d /etc/temporal/schema/postgresql/v12/`);
    }
    expect(service('temporal-schema').depends_on?.postgresql?.condition).toBe('service_healthy');
    expect(service('temporal-schema').environment?.SQL_PASSWORD).toBe(SECRETS.TEMPORAL_DB_PASSWORD);
  });

  it('runs the Temporal server on PostgreSQL, after it is healthy, without publishing the frontend', () => {
    const temporal = service('temporal');
    expect(temporal.depends_on?.postgresql?.condition).toBe('service_healthy');
    expect(temporal.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
    expect(temporal.environment).toEqual(
      expect.objectContaining({
        DB: 'postgres12',
        DB_PORT: '5432',
        POSTGRES_SEEDS: 'postgresql',
        POSTGRES_USER: 'temporal',
        POSTGRES_PWD: SECRETS.TEMPORAL_DB_PASSWORD,
        DBNAME: 'temporal',
        VISIBILITY_DBNAME: 'temporal_visibility',
        BIND_ON_IP: '0.0.0.0',
      }),
    );
    expect(temporal.healthcheck?.test.join(' ')).toContain('7233');
    expect(temporal.ports ?? []).toEqual([]);
  });

  it('creates the namespace and registers every search attribute the workflow uses', () => {
    const setup = service('temporal-setup');
    const text = script('temporal-setup');
    expect(setup.depends_on?.temporal?.condition).toBe('service_healthy');
    expect(setup.environment).toEqual(expect.objectContaining({ TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'default' }));
    expect(text).toContain('temporal operator namespace create');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      expect(text).toMatch(new RegExp(`temporal operator search-attribute create [^\\n]*--name ${name} --type ${type}(\\s|$)`));
    }
    // The workflow's own definitions and the setup agree, so neither can drift alone.
    const cliType: Record<string, string> = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' };
    const fromWorkflow = Object.fromEntries(Object.values(SearchKeys).map((key) => [key.name, cliType[key.type]]));
    expect(fromWorkflow).toEqual(SEARCH_ATTRIBUTES);
  });

  it('serves the Temporal UI on 8080, read-only, bound to loopback by default', () => {
    const ui = service('temporal-ui');
    expect(ui.environment).toEqual(
      expect.objectContaining({
        TEMPORAL_ADDRESS: 'temporal:7233',
        TEMPORAL_CORS_ORIGINS: 'http://localhost:8080',
        TEMPORAL_DISABLE_WRITE_ACTIONS: 'true',
      }),
    );
    expect(ui.ports).toEqual([expect.objectContaining({ target: 8080, published: '8080', host_ip: '127.0.0.1' })]);
  });

  describe.each([
    ['api', 'dist/api/main.js'],
    ['worker', 'dist/worker/main.js'],
  ])('%s', (name, main) => {
    it('is built from the repository Dockerfile and runs its own entry point', () => {
      const s = service(name);
      expect(s.build).toEqual({ context: ROOT, dockerfile: 'Dockerfile' });
      expect(s.command).toEqual(['node', main]);
    });

    it('points at Temporal on temporal:7233 and at its own PostgreSQL database', () => {
      expect(service(name).environment).toEqual(
        expect.objectContaining({
          DATABASE_URL: `postgres://countersign:${SECRETS.COUNTERSIGN_DB_PASSWORD}@postgresql:5432/countersign`,
          TEMPORAL_ADDRESS: 'temporal:7233',
          TEMPORAL_NAMESPACE: 'default',
          COUNTERSIGN_CONFIG: '/etc/countersign/countersign.yaml',
          PORT: '3000',
        }),
      );
    });

    it('reads its configuration from ./config, read-only', () => {
      expect(service(name).volumes).toEqual([
        expect.objectContaining({ type: 'bind', source: path.join(ROOT, 'config'), target: '/etc/countersign', read_only: true }),
      ]);
    });

    it('starts once PostgreSQL is healthy and the namespace is set up', () => {
      expect(service(name).depends_on).toEqual(
        expect.objectContaining({
          postgresql: expect.objectContaining({ condition: 'service_healthy' }),
          'temporal-setup': expect.objectContaining({ condition: 'service_completed_successfully' }),
        }),
      );
    });
  });

  it('gives the admin token to the API only, and publishes the API with a /healthz check', () => {
    const api = service('api');
    expect(api.environment?.COUNTERSIGN_ADMIN_TOKEN).toBe(SECRETS.COUNTERSIGN_ADMIN_TOKEN);
    expect(service('worker').environment).not.toHaveProperty('COUNTERSIGN_ADMIN_TOKEN');
    expect(api.ports).toEqual([expect.objectContaining({ target: 3000, published: '3000' })]);
    expect(api.healthcheck?.test.join(' ')).toContain('/healthz');
  });

  it('keeps PostgreSQL and the Temporal frontend on internal networks', () => {
    expect(config.networks.data?.internal).toBe(true);
    expect(config.networks.temporal?.internal).toBe(true);
    expect(Object.keys(service('postgresql').networks ?? {})).toEqual(['data']);
    expect(Object.keys(service('temporal').networks ?? {}).sort()).toEqual(['data', 'temporal']);
    expect(Object.keys(service('temporal-ui').networks ?? {})).not.toContain('data');
  });

  it.each(Object.keys(SECRETS))('refuses to start without %s', (missing) => {
    const env: Record<string, string> = { ...SECRETS };
    delete env[missing];
    const result = compose(['config', '--quiet'], env);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(missing);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');

  it('builds on node:20-bookworm-slim in stages and runs as the unprivileged node user', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(dockerfile).toContain('npm ci');
    expect(dockerfile).toContain('npm run build');
    expect(dockerfile).toContain('npm prune --omit=dev');
    const stages = dockerfile.split(/^FROM /m);
    expect(stages[stages.length - 1]).toMatch(/^USER node$/m);
  });

  it('bundles the workflow code at build time and points the worker at the bundle, so it never bundles at start-up', () => {
    const build = dockerfile.split(/^FROM /m).find((stage) => stage.startsWith('${NODE_IMAGE} AS build'))!;
    expect(build).toContain('npm run build');
    expect(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.build).toContain('build:workflows');
    const stages = dockerfile.split(/^FROM /m);
    expect(stages[stages.length - 1]).toMatch(/^ENV COUNTERSIGN_WORKFLOW_BUNDLE=\/app\/dist\/workflow-bundle\.js$/m);
  });

  it('runs both processes with the malloc arenas settings/settings.ts names', () => {
    const stages = dockerfile.split(/^FROM /m);
    expect(stages[stages.length - 1]).toMatch(new RegExp(`^ENV MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX}$`, 'm'));
  });

  it('keeps dependencies, build output, secrets and mounted configuration out of the build context', () => {
    for (const entry of ['node_modules', 'dist', '.git', '.env', 'config']) expect(dockerignore).toContain(entry);
  });
});

describeCompose('the mutual-TLS override', () => {
  it('that docs/PRODUCTION.md shows is accepted, for both halves', () => {
    const docs = readFileSync(path.join(ROOT, 'docs', 'PRODUCTION.md'), 'utf8');
    const block = /override, for example `docker-compose\.override\.yml`:\n\n\s*```yaml\n([\s\S]*?)\n\s*```/.exec(docs);
    expect(block).not.toBeNull();
    const override = path.join(mkdtempSync(path.join(os.tmpdir(), 'countersign-compose-')), 'mtls.override.yml');
    writeFileSync(override, block![1].replace(/^  /gm, ''));
    const result = compose(['config', '--format', 'json'], SECRETS, [override]);
    if (result.status !== 0) throw new Error(`docker compose config failed:\n${result.stderr}`);
    const merged = (JSON.parse(result.stdout) as ComposeConfig).services;
    for (const name of ['api', 'worker']) {
      expect(merged[name].environment).toMatchObject({
        TEMPORAL_ADDRESS: 'temporal:7233',
        TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/temporal-tls/client.pem',
        TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/temporal-tls/client.key',
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/etc/temporal-tls/ca.pem',
      });
      expect(merged[name].volumes!.map((mount) => mount.target).sort()).toEqual(['/etc/countersign', '/etc/temporal-tls']);
    }
  });
});
