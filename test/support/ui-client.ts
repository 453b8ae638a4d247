// A browser as the approver page's tests need one, without a browser: real HTTP, a cookie jar,
// redirects not followed (so each step can be checked), forms posted urlencoded.

export interface UiResponse {
  status: number;
  headers: Headers;
  text: string;
  location?: string;
  /** Each Set-Cookie header, whole (flags included). */
  setCookies: string[];
}

export class UiClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(method: string, path: string, options: { form?: Record<string, string>; headers?: Record<string, string>; body?: string } = {}): Promise<UiResponse> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (this.cookies.size && !headers.cookie) headers.cookie = this.cookieHeader();
    let body: string | undefined = options.body;
    if (options.form) {
      body = new URLSearchParams(options.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const response = await fetch(new URL(path, this.baseUrl), { method, headers, body, redirect: 'manual' });
    const setCookies = response.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair, ...flags] = line.split(';').map((part) => part.trim());
      const [name, ...rest] = pair.split('=');
      const value = rest.join('=');
      const expired = flags.some((flag) => /^expires=/i.test(flag) && Date.parse(flag.slice(8)) <= Date.now()) || flags.some((flag) => /^max-age=0$/i.test(flag));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: response.status, headers: response.headers, text: await response.text(), location: response.headers.get('location') ?? undefined, setCookies };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, { headers });
  }

  post(path: string, form: Record<string, string>, headers?: Record<string, string>) {
    return this.request('POST', path, { form, headers });
  }

  /** Signs in with a token through the form, as a person would; returns the sign-in's answer. */
  async signIn(token: string): Promise<UiResponse> {
    const form = await this.get('/ui/sign-in');
    return this.post('/ui/sign-in', { csrf: csrfOf(form.text), token });
  }
}

/** The form token of the first form on a page. */
export function csrfOf(page: string): string {
  const match = /name="csrf" value="([^"]*)"/.exec(page);
  if (!match) throw new Error(`no form token on the page: ${page.slice(0, 500)}`);
  return match[1];
}

/** A Set-Cookie header's flags, by lower-case name (a flag without a value is `true`). */
export function cookieFlags(line: string): Record<string, string | true> {
  const [, ...flags] = line.split(';').map((part) => part.trim());
  return Object.fromEntries(flags.map((flag) => {
    const [name, ...value] = flag.split('=');
    return [name.toLowerCase(), value.length ? value.join('=') : true];
  }));
}
