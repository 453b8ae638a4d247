// The approver page as approvers use it: Debian's chromium (through playwright-core) driving the
// real API and worker on a real Temporal server and PostgreSQL. Sign in with a token, see the
// request waiting, approve with the digest, see a refusal in words, reject with a reason, audit
// the history, sign out; keyboard, contrast and a phone's width too.
//
// Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it); COUNTERSIGN_SKIP_BROWSER=1
// skips it. UPDATE_SCREENSHOTS=1 rewrites the screenshots in docs/images/ that README.md and
// docs/APPROVERS.md show.

import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Harness, startCountersign } from '../support/harness';
import { deploymentBody, standardCast, waitForStatus } from '../support/fixtures';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOTS = path.join(__dirname, '..', '..', 'docs', 'images');
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

// The page's globals, for the functions that run in the browser (this file compiles without the DOM library).
declare const document: any;
declare const Node: any;
declare function getComputedStyle(element: unknown): any;
type Element = any;
type HTMLElement = any;
type HTMLTextAreaElement = any;

const describeBrowser = process.env.COUNTERSIGN_SKIP_BROWSER === '1' ? describe.skip : describe;

describeBrowser('the approver page, in Chromium', () => {
  let harness: Harness | undefined;
  let cast: Awaited<ReturnType<typeof standardCast>>;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  /** Errors the browser reported (a CSP violation among them): none are expected. */
  const browserErrors: string[] = [];
  let bob: Page;

  const shipped = deploymentBody({
    service: 'checkout-api',
    change: {
      commit: 'a3f1c9e27b4d5e6f708192a3b4c5d6e7f8091a2b',
      authors: ['alice@example.com'],
      summary: 'Retry card authorisation once on a gateway timeout',
      url: 'https://git.example.com/checkout-api/pull/42',
    },
  });
  const stopped = deploymentBody({ service: 'web', change: { commit: 'b'.repeat(40), authors: ['alice@example.com'], summary: 'Switch the session store to the new cluster' } });
  let shippedId: string;
  let stoppedId: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it with \`sudo apt-get install -y chromium\` (.ci/run does), or set COUNTERSIGN_SKIP_BROWSER=1 to skip the browser tests.`);
    }
    harness = await startCountersign({ temporalUiUrl: process.env.COUNTERSIGN_TEST_TEMPORAL_UI ?? 'http://127.0.0.1:8233' });
    cast = await standardCast(harness);
    shippedId = (await cast.http.post('/v1/deployments', cast.ci.token, shipped)).body.id;
    stoppedId = (await cast.http.post('/v1/deployments', cast.ci.token, stopped)).body.id;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    bob = await newPage(DESKTOP);
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await harness?.close();
  });

  async function newPage(viewport: { width: number; height: number }): Promise<Page> {
    const context = await browser!.newContext({ viewport, timezoneId: 'UTC', locale: 'en-US', baseURL: harness!.url });
    context.setDefaultTimeout(20_000);
    contexts.push(context);
    const page = await context.newPage();
    // A refused answer is a page with a 4xx status, on purpose; anything else failing is not.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) browserErrors.push(message.text());
    });
    page.on('pageerror', (error) => browserErrors.push(error.message));
    page.on('requestfailed', (request) => {
      // A load the page's own navigation cut short (the icon, as a form is submitted) is not a failure.
      if (request.failure()?.errorText === 'net::ERR_ABORTED') return;
      browserErrors.push(`${request.url()}: ${request.failure()?.errorText}`);
    });
    page.on('response', (response) => {
      if (response.status() >= 400 && response.request().resourceType() !== 'document') browserErrors.push(`${response.url()}: ${response.status()}`);
    });
    return page;
  }

  async function signIn(page: Page, token: string) {
    await page.goto('/ui/');
    await page.waitForURL(/\/ui\/sign-in/);
    await page.getByLabel('Personal token').fill(token);
    await page.getByRole('button', { name: 'Sign in with the token' }).click();
    await page.getByRole('heading', { name: 'Waiting for me', level: 1 }).waitFor();
  }

  async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}) {
    if (!updateScreenshots) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.mouse.move(0, 0);
    await page.locator(':focus').evaluateAll((focused) => focused.forEach((element) => (element as { blur?: () => void }).blur?.()));
    await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: options.fullPage ?? true, animations: 'disabled' });
  }

  it('signs in with a personal token and lists the requests waiting for the approver', async () => {
    await signIn(bob, cast.bob.token);
    const card = bob.getByRole('article').filter({ hasText: 'checkout-api → production' });
    await card.waitFor();
    await card.getByText('Retry card authorisation once on a gateway timeout').waitFor();
    await card.getByText('0 of 2 approvals').waitFor();
    await card.getByText('2 more approvals').waitFor();
    await card.getByText(/\d+ h \d+ min left/).waitFor();
    await bob.getByText('Signed in as').waitFor();
    await screenshot(bob, 'approver-waiting.png');
  }, 60_000);

  it('does not list a request to its own author', async () => {
    const alice = await newPage(DESKTOP);
    await signIn(alice, cast.alice.token);
    await alice.getByText('Nothing is waiting for you').waitFor();
    await alice.context().close();
  }, 60_000);

  it('shows what is asked on the request\'s page: artifact and digest, commit, authors, summary, tier, what is missing, expiry, timeline', async () => {
    await bob.getByRole('link', { name: 'checkout-api → production' }).click();
    await bob.waitForURL(`**/ui/deployments/${shippedId}`);
    const facts = bob.locator('section').filter({ has: bob.getByRole('heading', { name: 'What is asked' }) });
    for (const text of [shipped.artifact.name, shipped.artifact.digest, shipped.change.commit, 'alice@example.com', shipped.change.summary!, 'high: 0 of 2 approvals', 'by ci at']) {
      await facts.getByText(text, { exact: false }).first().waitFor();
    }
    await expect(facts.getByRole('link', { name: shipped.change.url! }).getAttribute('href')).resolves.toBe(shipped.change.url);
    await facts.getByText(/\(\d+ h \d+ min left\)/).waitFor();
    await bob.getByText('Still needs: 2 more approvals.').waitFor();
    await bob.locator('ol.timeline').getByText('requested the deployment').waitFor();
  }, 60_000);

  it('refuses an approval of another digest, in words, and counts nothing', async () => {
    await bob.getByLabel('Digest of the artifact you reviewed').fill(`sha256:${'0'.repeat(64)}`);
    const [response] = await Promise.all([bob.waitForResponse((r) => r.url().endsWith('/approve')), bob.getByRole('button', { name: 'Approve' }).click()]);
    expect(response.status()).toBe(409);
    const alert = bob.getByRole('alert');
    await alert.getByText('Your approval was not counted').waitFor();
    await alert.getByText('The digest you entered is not the digest of this artifact.').waitFor();
    // What the approver typed stays in the field, to correct.
    await expect(bob.getByLabel('Digest of the artifact you reviewed').inputValue()).resolves.toBe(`sha256:${'0'.repeat(64)}`);
    expect((await cast.http.get(`/v1/deployments/${shippedId}`, cast.ci.token)).body.approvals).toEqual([]);
  }, 60_000);

  it('approves with the digest the approver reviewed, typed with the keyboard alone', async () => {
    await bob.goto(`/ui/deployments/${shippedId}`);
    const field = bob.getByLabel('Digest of the artifact you reviewed');
    await field.focus();
    await bob.keyboard.type(shipped.artifact.digest);
    await bob.keyboard.press('Tab'); // the comment
    await bob.keyboard.type('Reviewed the diff and the image scan');
    await bob.keyboard.press('Tab'); // Approve
    await expect(bob.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Approve');
    await bob.keyboard.press('Enter');
    await bob.getByRole('status').getByText('Your approval was counted').waitFor();
    await bob.getByRole('status').getByText('It still needs 1 more approval.').waitFor();
    await bob.getByText('1 of 2 approvals').first().waitFor();
    await bob.getByText('“Reviewed the diff and the image scan”').first().waitFor();
    const view = (await cast.http.get(`/v1/deployments/${shippedId}`, cast.ci.token)).body;
    expect(view.approvals.map((approval: { approver: string; digest: string }) => [approval.approver, approval.digest])).toEqual([['bob', shipped.artifact.digest]]);
    await screenshot(bob, 'approver-deployment.png');
  }, 60_000);

  it('shows an author the gate\'s refusal in words (403) and counts nothing', async () => {
    const alice = await newPage(DESKTOP);
    await signIn(alice, cast.alice.token);
    await alice.goto(`/ui/deployments/${shippedId}`);
    await alice.getByLabel('Digest of the artifact you reviewed').fill(shipped.artifact.digest);
    const [response] = await Promise.all([alice.waitForResponse((r) => r.url().endsWith('/approve')), alice.getByRole('button', { name: 'Approve' }).click()]);
    expect(response.status()).toBe(403);
    await alice.getByRole('alert').getByText('You are an author of this change, so you cannot answer for it').waitFor();
    // The refused attempt is on the page, and in the timeline.
    await alice.getByRole('heading', { name: 'Refused attempts' }).waitFor();
    await alice.locator('ol.timeline li').filter({ hasText: 'alice tried to approve, refused' }).getByText('You are an author of this change').waitFor();
    await screenshot(alice, 'approver-refused.png', { fullPage: false });
    const view = (await cast.http.get(`/v1/deployments/${shippedId}`, cast.ci.token)).body;
    expect(view.approvals.map((approval: { approver: string }) => approval.approver)).toEqual(['bob']);
    await alice.context().close();
  }, 60_000);

  it('takes the second approval and the request goes on to deploy', async () => {
    const erin = await newPage(DESKTOP);
    await signIn(erin, cast.erin.token);
    await erin.goto(`/ui/deployments/${shippedId}`);
    await erin.getByLabel('Digest of the artifact you reviewed').fill(shipped.artifact.digest);
    await erin.getByRole('button', { name: 'Approve' }).click();
    await erin.getByRole('status').getByText('Your approval was counted').waitFor();
    expect((await waitForStatus(cast.http, cast.ci.token, shippedId, ['DEPLOYED', 'FAILED'])).status).toBe('DEPLOYED');
    await erin.reload();
    await erin.getByRole('heading', { level: 1 }).getByText('deployed').waitFor();
    // Decided: no more answer forms.
    await expect(erin.getByRole('button', { name: 'Approve' }).count()).resolves.toBe(0);
    await erin.context().close();
  }, 90_000);

  it('rejects with a reason, which the form requires', async () => {
    const carol = await newPage(DESKTOP);
    await signIn(carol, cast.carol.token);
    await carol.getByRole('link', { name: 'web → production' }).click();
    const reason = carol.getByLabel('Reason (required)');
    await expect(reason.getAttribute('required')).resolves.not.toBeNull();
    // An empty reason does not leave the browser.
    await carol.getByRole('button', { name: 'Reject' }).click();
    await expect(reason.evaluate((element) => (element as HTMLTextAreaElement).validity.valueMissing)).resolves.toBe(true);
    await reason.fill('The new cluster has no backups yet; wait for INFRA-311');
    await carol.getByRole('button', { name: 'Reject' }).click();
    await carol.getByRole('status').getByText('You rejected this request').waitFor();
    await carol.getByRole('heading', { level: 1 }).getByText('rejected').waitFor();
    await carol.getByText('The new cluster has no backups yet; wait for INFRA-311').first().waitFor();
    expect((await cast.http.get(`/v1/deployments/${stoppedId}`, cast.ci.token)).body.status).toBe('REJECTED');
    await carol.context().close();
  }, 60_000);

  it('shows an admin the history, with links to the Temporal UI and to the signed evidence', async () => {
    const admin = await newPage(DESKTOP);
    await signIn(admin, cast.admin);
    await admin.getByRole('link', { name: 'History' }).click();
    await admin.getByRole('heading', { name: 'History', level: 1 }).waitFor();
    const row = admin.locator('tr').filter({ has: admin.getByRole('link', { name: 'checkout-api → production' }) });
    await row.getByText('bob, erin').waitFor();
    const temporal = await row.getByRole('link', { name: 'Temporal UI' }).getAttribute('href');
    expect(temporal).toMatch(new RegExp(`/namespaces/default/workflows/deployment-${shippedId}$`));
    const evidenceHref = await row.getByRole('link', { name: 'Evidence' }).getAttribute('href');
    expect(evidenceHref).toBe(`/ui/deployments/${shippedId}/evidence`);
    const evidence = await admin.request.get(evidenceHref!);
    expect(evidence.status()).toBe(200);
    expect((await evidence.json()).payloadType).toBe('application/vnd.in-toto+json');
    await admin.locator('tr').filter({ hasText: 'web → production' }).getByText('rejected').waitFor();
    await screenshot(admin, 'approver-history.png');
    // An approver without the admin role has no history.
    await expect(bob.getByRole('link', { name: 'History' }).count()).resolves.toBe(0);
    await admin.context().close();
  }, 60_000);

  it('can be used by keyboard: a skip link first, and a visible focus', async () => {
    await bob.goto(`/ui/deployments/${stoppedId}`);
    await bob.keyboard.press('Tab');
    const focused = await bob.evaluate(() => {
      const element = document.activeElement as HTMLElement;
      const style = getComputedStyle(element);
      return { text: element.textContent, left: element.getBoundingClientRect().left, outline: style.outlineStyle, width: style.outlineWidth };
    });
    expect(focused.text).toBe('Skip to the content');
    expect(focused.left).toBeGreaterThanOrEqual(0); // shown when focused
    expect(focused.outline).toBe('solid');
    expect(focused.width).toBe('3px');
    await bob.keyboard.press('Enter');
    await expect(bob.evaluate(() => document.activeElement?.id)).resolves.toBe('main');
  }, 60_000);

  it('keeps every text at a contrast of 4.5:1 or more against its background', async () => {
    for (const url of ['/ui/', `/ui/deployments/${shippedId}`, `/ui/deployments/${stoppedId}`]) {
      await bob.goto(url);
      const failures = await bob.evaluate(contrastFailures);
      expect({ url, failures }).toEqual({ url, failures: [] });
    }
  }, 60_000);

  it('fits a phone\'s width without scrolling sideways', async () => {
    const phone = await newPage(PHONE);
    await signIn(phone, cast.dave.token);
    for (const url of ['/ui/', `/ui/deployments/${shippedId}`, `/ui/deployments/${stoppedId}`]) {
      await phone.goto(url);
      await expect(phone.evaluate(() => document.documentElement.scrollWidth)).resolves.toBeLessThanOrEqual(PHONE.width);
    }
    const pending = (await cast.http.post('/v1/deployments', cast.ci.token, deploymentBody({ service: 'checkout-api', change: { commit: 'c'.repeat(40), authors: ['alice@example.com'], summary: 'Raise the card retry budget' } }))).body.id;
    await phone.goto('/ui/');
    await screenshot(phone, 'approver-phone-waiting.png');
    await phone.goto(`/ui/deployments/${pending}`);
    await expect(phone.evaluate(() => document.documentElement.scrollWidth)).resolves.toBeLessThanOrEqual(PHONE.width);
    await screenshot(phone, 'approver-phone-deployment.png');
    await phone.context().close();
  }, 60_000);

  it('signs out: the page then asks to sign in again', async () => {
    await bob.goto('/ui/');
    await bob.getByRole('button', { name: 'Sign out' }).click();
    await bob.waitForURL(/\/ui\/sign-in\?signed-out/);
    await bob.getByRole('status').getByText('You are signed out.').waitFor();
    await bob.goto(`/ui/deployments/${shippedId}`);
    await bob.waitForURL(/\/ui\/sign-in/);
    await screenshot(bob, 'approver-sign-in.png', { fullPage: false });
  }, 60_000);

  it('reported no error in the browser: no CSP violation, no failed load', () => {
    expect(browserErrors).toEqual([]);
  });
});

/** Runs in the page: every element with its own text, whose contrast is under 4.5:1. */
function contrastFailures(): string[] {
  const parse = (color: string): number[] => (color.match(/[\d.]+/g) ?? []).map(Number);
  const luminance = ([r, g, b]: number[]) => {
    const channel = (value: number) => {
      const c = value / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const background = (element: Element | null): number[] => {
    for (let current = element; current; current = current.parentElement) {
      const [r, g, b, a = 1] = parse(getComputedStyle(current).backgroundColor);
      if (a > 0) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const failures: string[] = [];
  for (const element of Array.from(document.body.querySelectorAll('*')) as Element[]) {
    const ownText = (Array.from(element.childNodes) as any[]).some((node) => node.nodeType === Node.TEXT_NODE && node.textContent!.trim() !== '');
    if (!ownText) continue;
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0 || rect.left < -1000) continue;
    const fg = luminance(parse(getComputedStyle(element).color));
    const bg = luminance(background(element));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) failures.push(`${element.tagName.toLowerCase()}.${element.className} "${element.textContent!.trim().slice(0, 40)}": ${ratio.toFixed(2)}`);
  }
  return failures;
}
