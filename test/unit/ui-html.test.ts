// The approver page's one template helper (api/ui/html.ts): every interpolation is escaped, so a
// hostile name, summary or comment is shown as text and never becomes markup or reorders a line.

import { escapeText, html, Html, link, safeUrl } from '../../api/ui/html';
import { timeLeft, missingWords } from '../../api/ui/words';

describe('html`…`: every interpolation escaped', () => {
  it.each([
    ['a script tag', '<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['an attribute breakout with double quotes', '" onmouseover="alert(1)', '&quot; onmouseover=&quot;alert(1)'],
    ['an attribute breakout with single quotes', "' autofocus onfocus='alert(1)", '&#39; autofocus onfocus=&#39;alert(1)'],
    ['a backtick', '`x`', '&#96;x&#96;'],
    ['an entity that must stay text', '&lt;b&gt;', '&amp;lt;b&amp;gt;'],
    ['an img with onerror', '<img src=x onerror=alert(1)>', '&lt;img src=x onerror=alert(1)&gt;'],
    ['a comment opener', '<!-- x -->', '&lt;!-- x --&gt;'],
    ['a NUL', 'a\u0000b', 'a[U+0000]b'],
    ['an escape sequence (terminal colour)', '\u001b[31mred', '[U+001B][31mred'],
    ['a C1 control', 'a\u0085b', 'a[U+0085]b'],
    ['DEL', 'a\u007fb', 'a[U+007F]b'],
    ['a right-to-left override (Trojan Source)', 'approve\u202Eexe.txt', 'approve[U+202E]exe.txt'],
    ['a left-to-right isolate', 'a\u2066b\u2069', 'a[U+2066]b[U+2069]'],
    ['a right-to-left mark', 'a\u200Fb', 'a[U+200F]b'],
    ['an Arabic letter mark', 'a\u061Cb', 'a[U+061C]b'],
    ['a lone surrogate', 'a\uD800b', 'a[U+D800]b'],
  ])('escapes %s', (_name, hostile, expected) => {
    expect(html`<p title="${hostile}">${hostile}</p>`.markup).toBe(`<p title="${expected}">${expected}</p>`);
  });

  it('keeps tabs and line breaks, and text in other scripts, as they are', () => {
    expect(escapeText('a\tb\nc\r\nd')).toBe('a\tb\nc\r\nd');
    expect(escapeText('مرحبا שלום 日本語 🙂')).toBe('مرحبا שלום 日本語 🙂');
  });

  it('inserts markup made by html`…` unescaped, and lists of either', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${['<', html`<br>`]}</p>`.markup).toBe('<p><b>&lt;i&gt;</b>&lt;<br></p>');
  });

  it('leaves nothing for null, undefined and false, and writes numbers and true as text', () => {
    expect(html`[${null}${undefined}${false}${0}${true}]`.markup).toBe('[0true]');
  });

  it('does not take a look-alike object for markup', () => {
    const fake = { markup: '<script>' } as unknown as Html;
    expect(html`${fake}`.markup).toBe('[object Object]');
  });
});

describe('links', () => {
  it.each(['javascript:alert(1)', 'JaVaScRiPt:alert(1)', ' javascript:alert(1)', 'data:text/html,<script>alert(1)</script>', 'vbscript:x', 'not a url', ''])(
    'never makes a link of %j',
    (url) => {
      expect(safeUrl(url)).toBeUndefined();
      expect(link(url, 'x').markup).not.toContain('href');
    },
  );

  it('links http(s) URLs, escaped, with rel=noopener noreferrer', () => {
    expect(link('https://git.example.com/pull/1?a=1&b="2"', 'PR').markup).toBe(
      '<a href="https://git.example.com/pull/1?a=1&amp;b=%222%22" rel="noopener noreferrer">PR</a>',
    );
  });
});

describe('words', () => {
  it('says how long is left, or how long ago', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(timeLeft('2026-12-01T15:12:30Z', now)).toBe('3 h 12 min left');
    expect(timeLeft('2026-12-03T13:00:00Z', now)).toBe('2 d 1 h left');
    expect(timeLeft('2026-12-01T12:00:20Z', now)).toBe('less than a minute left');
    expect(timeLeft('2026-12-01T11:15:00Z', now)).toBe('45 min ago');
  });

  it('says what is missing: a count and the groups', () => {
    const view = { requiredApprovals: 2, requiredGroups: ['security'], approvals: [{ approver: 'bob', groups: [] }] } as never;
    expect(missingWords(view)).toBe('1 more approval, including one from security');
    const met = { requiredApprovals: 1, requiredGroups: [], approvals: [{ approver: 'bob', groups: [] }] } as never;
    expect(missingWords(met)).toBe('nothing: the quorum is met');
    const group = { requiredApprovals: 2, requiredGroups: ['security'], approvals: [{ approver: 'a', groups: [] }, { approver: 'b', groups: [] }] } as never;
    expect(missingWords(group)).toBe('one from security');
  });
});
