// The approver page's one way to make HTML: a tagged template whose every interpolation is
// escaped, unless it is markup this module made (an `Html`). Nothing else in api/ui builds a
// string of markup by hand, so a hostile service name, summary, comment or author cannot open
// a tag, close an attribute, or reorder what a person reads.
//
// Besides the five characters HTML gives meaning to, text loses what would mislead a reader:
// control characters (U+0000-U+001F but tab and line breaks, U+007F-U+009F) and the
// bidirectional overrides, embeddings and isolates (U+202A-U+202E, U+2066-U+2069, and the
// marks U+200E, U+200F, U+061C) are shown as a visible `[U+202E]`, never applied: "Trojan
// Source" text cannot make `approve.exe` look like `exe.evorppa`.

/** Markup made by this module (or a constant of the page): inserted as it is. */
export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

/** What a template takes: text (escaped), markup, lists of either, or nothing. */
export type Renderable = Html | string | number | boolean | null | undefined | readonly Renderable[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
// Lone surrogates too: they are not text, and a browser would show a replacement character anyway.
const MISLEADING = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text as HTML: safe in element content and in a quoted attribute value. */
export function escapeText(text: string): string {
  return text
    .replace(MISLEADING, (char) => `[U+${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`)
    .replace(/[&<>"'`]/g, (char) => ENTITIES[char]);
}

function render(value: Renderable): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeText(String(value));
}

/** html`<p>${text}</p>`: every interpolation escaped, markup from `html` kept. */
export function html(strings: TemplateStringsArray, ...values: Renderable[]): Html {
  let out = strings[0];
  for (let index = 0; index < values.length; index += 1) out += render(values[index]) + strings[index + 1];
  return new Html(out);
}

/** Only http(s) URLs become links (never `javascript:` or `data:`): anything else is undefined. */
export function safeUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** A link when the URL is http(s), else the URL shown as text. */
export function link(url: string | undefined, text: Renderable, attributes: { rel?: string } = {}): Html {
  const safe = safeUrl(url);
  if (!safe) return html`${url ?? ''}`;
  return html`<a href="${safe}" rel="${attributes.rel ?? 'noopener noreferrer'}">${text}</a>`;
}

/** A path segment for a link to a page of this API. */
export function segment(value: string): string {
  return encodeURIComponent(value);
}
