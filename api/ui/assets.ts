// The approver page's one stylesheet, served from /ui/static/app.<hash>.css with a year-long,
// immutable cache: a changed stylesheet has a new hash, so a new name. It lives in code (not a
// file beside it) so that `npm run build`'s dist/ serves it without a copy step.
//
// Colours are chosen for contrast of at least 4.5:1 against their backgrounds (WCAG AA), and
// 7:1 for body text; focus is always visible; the layout is one column on a phone.

import { createHash } from 'node:crypto';

export const STYLESHEET = `
:root { color-scheme: light; --ink: #1a1a1a; --muted: #4d4d4d; --line: #c8c8c8; --paper: #ffffff; --wash: #f4f5f7;
  --link: #0b57d0; --focus: #0b57d0; --ok-ink: #0f5132; --ok-bg: #d1e7dd; --wait-ink: #5c3b00; --wait-bg: #fff3cd;
  --bad-ink: #842029; --bad-bg: #f8d7da; --primary: #0b57d0; --danger: #b3261e; }
* { box-sizing: border-box; }
html { font-size: 100%; -webkit-text-size-adjust: 100%; }
body { margin: 0; overflow-wrap: anywhere; font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: var(--wash); }
a { color: var(--link); text-underline-offset: 0.15em; }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip { position: absolute; left: -10000px; top: 0; background: var(--paper); padding: 0.5rem 1rem; z-index: 10; }
.skip:focus { left: 0.5rem; top: 0.5rem; }
header.top { background: var(--paper); border-bottom: 1px solid var(--line); }
header.top .bar { max-width: 60rem; margin: 0 auto; padding: 0.5rem 1rem; display: flex; flex-wrap: wrap; gap: 0.5rem 1.25rem; align-items: center; }
.brand { font-weight: 700; color: var(--ink); text-decoration: none; margin-right: auto; }
header nav ul { list-style: none; margin: 0; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
header nav a[aria-current="page"] { font-weight: 700; }
.who { color: var(--muted); font-size: 0.9375rem; }
form.inline { display: inline; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0.5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1875rem; margin: 1.5rem 0 0.5rem; }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 6px; padding: 1rem; margin: 0 0 1rem; }
.card > h2:first-child, .card h3 { margin-top: 0; }
ul.cards { list-style: none; margin: 0; padding: 0; }
ul.cards h2 { margin: 0 0 0.25rem; font-size: 1.125rem; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: minmax(7rem, max-content) 1fr; gap: 0.25rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
code, .digest { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9375rem; overflow-wrap: anywhere; word-break: break-all; }
.badge { display: inline-block; padding: 0.0625rem 0.5rem; border-radius: 999px; font-size: 0.875rem; font-weight: 600; border: 1px solid currentColor; vertical-align: middle; }
.badge.wait { color: var(--wait-ink); background: var(--wait-bg); }
.badge.ok { color: var(--ok-ink); background: var(--ok-bg); }
.badge.bad { color: var(--bad-ink); background: var(--bad-bg); }
.meta { color: var(--muted); font-size: 0.9375rem; }
.notice { border-left: 6px solid; padding: 0.75rem 1rem; margin: 0 0 1rem; background: var(--paper); }
.notice.ok { border-color: var(--ok-ink); }
.notice.bad { border-color: var(--bad-ink); }
.notice.bad h2, .notice.ok h2 { margin-top: 0; }
label { display: block; font-weight: 600; margin: 0.75rem 0 0.25rem; }
.hint { color: var(--muted); font-size: 0.9375rem; margin: 0 0 0.25rem; }
input[type="text"], input[type="password"], textarea, select { width: 100%; max-width: 40rem; font: inherit; padding: 0.5rem; border: 1px solid #6e6e6e; border-radius: 4px; background: var(--paper); color: var(--ink); }
textarea { min-height: 5rem; }
button, .button { display: inline-block; font: inherit; font-weight: 600; padding: 0.5rem 1rem; margin-top: 0.75rem; border-radius: 4px; border: 2px solid var(--primary); background: var(--primary); color: #ffffff; cursor: pointer; text-decoration: none; min-height: 2.75rem; }
button.secondary { background: var(--paper); color: var(--primary); }
button.danger { background: var(--danger); border-color: var(--danger); }
button.link { background: none; border: none; color: var(--link); padding: 0; margin: 0; min-height: 0; text-decoration: underline; font-weight: 400; }
.answers { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
ol.timeline { list-style: none; margin: 0; padding: 0; border-left: 2px solid var(--line); }
ol.timeline li { margin: 0 0 0.75rem; padding-left: 1rem; }
table { border-collapse: collapse; width: 100%; background: var(--paper); }
th, td { text-align: left; padding: 0.5rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
th { font-weight: 600; }
.pager { margin-top: 1rem; }
footer { max-width: 60rem; margin: 0 auto; padding: 1rem; color: var(--muted); font-size: 0.875rem; }
@media (max-width: 40rem) {
  .answers { grid-template-columns: 1fr; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dt { margin-top: 0.5rem; }
  table, thead, tbody, tr, th, td { display: block; }
  thead { position: absolute; left: -10000px; }
  tr { border: 1px solid var(--line); margin-bottom: 0.75rem; }
  td { border: none; padding: 0.25rem 0.75rem; }
  td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
}
@media (prefers-reduced-motion: reduce) { * { transition: none !important; animation: none !important; } }
`;

/** The page's icon (browsers ask for one; without it each page logs a failed load). */
export const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b57d0"/><path d="M9 16.5l4.5 4.5L23 11.5" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/></svg>';
export const ICON_PATH = '/ui/static/icon.svg';

export const STYLESHEET_HASH = createHash('sha256').update(STYLESHEET).digest('hex').slice(0, 16);
export const STYLESHEET_PATH = `/ui/static/app.${STYLESHEET_HASH}.css`;
