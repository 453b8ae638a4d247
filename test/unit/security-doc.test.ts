// docs/SECURITY.md ties each threat to the tests that prove it is closed. A renamed or removed
// test would leave the threat model citing proof that no longer exists: this keeps it honest.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const doc = readFileSync(path.join(ROOT, 'docs', 'SECURITY.md'), 'utf8');

interface Citation {
  file: string;
  titles: string[];
}

/** `test/x.test.ts › describe › it` and `… › it` (the file and describes of the citation before). */
function citations(): Citation[] {
  const found: Citation[] = [];
  let previous: Citation | undefined;
  for (const [, text] of doc.matchAll(/`([^`]*›[^`]*)`/g)) {
    const parts = text.split(' › ').map((part) => part.trim());
    if (parts[0] === 'file') continue; // the legend
    if (parts[0] === '…') {
      if (!previous) throw new Error(`"${text}" continues no earlier citation`);
      previous = { file: previous.file, titles: [...previous.titles.slice(0, -1), ...parts.slice(1)] };
    } else {
      previous = { file: parts[0], titles: parts.slice(1) };
    }
    found.push(previous);
  }
  return found;
}

const cited = citations();

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

it('cites tests at all', () => {
  expect(cited.length).toBeGreaterThan(40);
});

it.each(cited.map((c) => [`${c.file} › ${c.titles.join(' › ')}`, c] as const))('names a test that exists: %s', (_name, citation) => {
  expect(existsSync(path.join(ROOT, citation.file))).toBe(true);
  const source = readFileSync(path.join(ROOT, citation.file), 'utf8');
  // Titles of table tests (`it.each`) are templates: `%s` stands for a case.
  const templates = [...source.matchAll(/\)\(\s*'((?:[^'\\]|\\.)*%[sdp](?:[^'\\]|\\.)*)'/g)].map(
    ([, template]) => new RegExp(`^${escapeRegExp(template.replace(/\\'/g, "'")).replace(/%[sdp]/g, '.+')}$`),
  );
  const exists = (title: string) =>
    [`'${title.replace(/'/g, "\\'")}'`, `"${title}"`, `\`${title}\``].some((quoted) => source.includes(quoted)) ||
    templates.some((template) => template.test(title));
  // "…" alone stands for every test of a describe; "title …" for the cases of a table test.
  for (const title of citation.titles.filter((t) => t !== '…')) {
    const found = title.endsWith(' …')
      ? templates.some((template) => template.source.startsWith(`^${escapeRegExp(title.slice(0, -2))}`))
      : exists(title);
    expect([title, found]).toEqual([title, true]);
  }
});
