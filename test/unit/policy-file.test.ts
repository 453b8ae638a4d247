// The policy file as each process holds it: the policy in force changes on a reload only, while
// the change calendar follows the file as it is at each reading (the worker's freeze check and
// the API's reading with an approval), and an invalid file leaves the calendar in force.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PolicyHolder } from '../../settings/policy-file';

const BASE = 'tiers:\n  low: { approvals: 1, expiresAfter: 1h }\nenvironments: [production]\nrules:\n  - { tier: low }\n';
const freeze = (name: string) =>
  `freezes:\n  - { name: ${name}, environment: production, from: "2026-12-20T00:00:00Z", until: "2027-01-04T00:00:00Z", reason: year end }\n`;

let dir: string;
let file: string;
const quiet = () => undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'countersign-policy-file-'));
  file = path.join(dir, 'countersign.yaml');
  writeFileSync(file, BASE);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('PolicyHolder.freshCalendar', () => {
  it('follows the file at each reading, while the policy in force waits for a reload', () => {
    const holder = new PolicyHolder(file);
    expect(holder.freshCalendar(quiet).freezes).toEqual([]);
    writeFileSync(file, `${BASE}${freeze('year-end')}`);
    expect(holder.freshCalendar(quiet).freezes.map((window) => window.name)).toEqual(['year-end']);
    expect(holder.current().freezes).toEqual([]);
    expect(holder.reload().freezes.map((window) => window.name)).toEqual(['year-end']);
  });

  it('keeps the calendar in force when the file becomes invalid, and says so once', () => {
    writeFileSync(file, `${BASE}${freeze('kept')}`);
    const holder = new PolicyHolder(file);
    const said: string[] = [];
    writeFileSync(file, `${BASE}freezes:\n  - { environment: production, reason: no schedule }\n`);
    expect(holder.freshCalendar((line) => said.push(line)).freezes.map((window) => window.name)).toEqual(['kept']);
    expect(holder.freshCalendar((line) => said.push(line)).freezes.map((window) => window.name)).toEqual(['kept']);
    expect(said).toEqual([expect.stringMatching(/NOT reloaded[^]*needs a schedule/)]);
  });
});
