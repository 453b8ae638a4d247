// What an auditor sees: the suite's real Temporal UI, driven by a real browser (Debian's
// chromium through playwright-core). A deployment that went through the gate must be findable by
// its search attributes, and its workflow page must show the summary and details in words and
// every update (refused ones included) in its history.
//
// Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it). Without it the
// file fails and says so; COUNTERSIGN_SKIP_BROWSER=1 skips it. UPDATE_SCREENSHOTS=1 rewrites the
// screenshots in docs/images/ that docs/AUDITORS.md shows.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { type Harness, startCountersign } from '../support/harness';
import { deploymentBody, eventually, standardCast, waitForStatus } from '../support/fixtures';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOTS = path.join(__dirname, '..', '..', 'docs', 'images');
const updateScreenshots = process.env.UPDATE_SCREENSHOTS === '1';
/** The list columns an auditor sets up: the gate's search attributes, and End (the close time). */
const AUDIT_COLUMNS = ['DeployService', 'DeployEnvironment', 'DeployStatus', 'DeployApprovers', 'DeployRequester', 'DeployTier', 'End'];

const describeBrowser = process.env.COUNTERSIGN_SKIP_BROWSER === '1' ? describe.skip : describe;

describeBrowser('the Temporal UI, as an auditor reads it', () => {
  let harness: Harness | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  let ui: string;

  const service = `ui-audit-${randomBytes(3).toString('hex')}`;
  const shipped = deploymentBody({ service });
  const stopped = deploymentBody({ service });
  let deployed: any;
  let rejected: any;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: this test drives the Temporal UI with Debian's chromium. ` +
          'Install it with `sudo apt-get update && sudo apt-get install -y chromium` (.ci/run does this), ' +
          'or set COUNTERSIGN_SKIP_BROWSER=1 to skip the browser test.',
      );
    }
    const uiUrl = process.env.COUNTERSIGN_TEST_TEMPORAL_UI;
    if (!uiUrl) {
      throw new Error(
        'COUNTERSIGN_TEST_TEMPORAL_UI is not set: with TEMPORAL_ADDRESS given, also give the URL of that server\'s Web UI ' +
          '(or set COUNTERSIGN_SKIP_BROWSER=1).',
      );
    }
    ui = uiUrl.replace(/\/$/, '');

    harness = await startCountersign();
    const cast = await standardCast(harness);
    const approve = (id: string, token: string, digest: string) => cast.http.post(`/v1/deployments/${id}/approvals`, token, { digest });

    // Production, tier high: the author's approval is refused, bob and erin approve, it deploys.
    deployed = (await cast.http.post('/v1/deployments', cast.ci.token, shipped)).body;
    expect((await approve(deployed.id, cast.alice.token, shipped.artifact.digest)).body.reason).toBe('AUTHOR');
    expect((await approve(deployed.id, cast.bob.token, shipped.artifact.digest)).status).toBe(200);
    expect((await approve(deployed.id, cast.erin.token, shipped.artifact.digest)).body.status).toBe('APPROVED');
    expect((await waitForStatus(cast.http, cast.ci.token, deployed.id, ['DEPLOYED', 'FAILED'])).status).toBe('DEPLOYED');

    // The same service, rejected: the audit query must leave it out.
    rejected = (await cast.http.post('/v1/deployments', cast.ci.token, stopped)).body;
    expect((await cast.http.post(`/v1/deployments/${rejected.id}/rejections`, cast.carol.token, { comment: 'not this one' })).body.status).toBe('REJECTED');

    // Visibility trails the workflows by a moment: wait until both closed runs are listed.
    await eventually(
      () => harness!.temporal.workflow.count(`DeployService = "${service}" AND ExecutionStatus = "Completed"`),
      (result) => result.count === 2,
      30_000,
    );

    profile = mkdtempSync(path.join(tmpdir(), 'countersign-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 2000, height: 900 },
      timezoneId: 'UTC',
      locale: 'en-US',
    });
    context.setDefaultTimeout(20_000);
    page = context.pages()[0] ?? (await context.newPage());
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await harness?.close();
  });

  const listUrl = (query: string) => `${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
  const rowOf = (workflowId: string) => page.locator('tr').filter({ has: page.getByRole('link', { name: workflowId, exact: true }) });

  /** Reloads the list until the workflow shows (the UI reads the same eventually consistent index). */
  async function openListShowing(url: string, workflowId: string) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      await page.goto(url);
      try {
        await rowOf(workflowId).waitFor({ timeout: 5_000 });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
  }

  async function screenshot(name: string, element?: Locator) {
    if (!updateScreenshots) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    // Nothing hovered or focused: no tooltip in the picture.
    await page.mouse.move(1000, 850);
    await page.locator(':focus').evaluateAll((focused) => focused.forEach((element) => (element as { blur?: () => void }).blur?.()));
    await (element ?? page).screenshot({ path: path.join(SCREENSHOTS, name), animations: 'disabled' });
  }

  it('finds the deployments by DeployService in the workflow list, from the query in the URL', async () => {
    await openListShowing(listUrl(`DeployService="${service}"`), deployed.workflowId);
    await expect(rowOf(rejected.workflowId).count()).resolves.toBe(1);
    // The UI turns the query into a filter chip.
    await page.getByText(`"${service}"`).first().waitFor();
  }, 60_000);

  it('shows the search attributes as columns once the auditor adds them', async () => {
    await page.getByTestId('workflows-summary-table-configuration-button').click();
    for (const column of ['Status', 'Run ID', 'Type', 'Start', 'End']) await page.getByTestId(`orderable-list-item-${column}-remove-button`).click();
    for (const column of AUDIT_COLUMNS) await page.getByTestId(`orderable-list-item-${column}-add-button`).click();
    await page.getByRole('button', { name: 'Close' }).filter({ visible: true }).first().click();

    const header = (await page.locator('thead').first().innerText()).replace(/\s+/g, ' ');
    expect(header).toContain(['Workflow ID', ...AUDIT_COLUMNS].join(' '));
    const cells = async (workflowId: string) =>
      (await rowOf(workflowId).locator('td').allInnerTexts()).map((text) => text.trim()).filter(Boolean);
    expect(await cells(deployed.workflowId)).toEqual(
      expect.arrayContaining([deployed.workflowId, service, 'production', 'DEPLOYED', 'bob,erin', 'ci', 'high']),
    );
    expect(await cells(rejected.workflowId)).toEqual(expect.arrayContaining([service, 'production', 'REJECTED']));
  }, 60_000);

  it('answers the audit query typed into the filter: deployed to production in a time range', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const next = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
    const query =
      `DeployService = "${service}" AND DeployEnvironment = "production" AND DeployStatus = "DEPLOYED" ` +
      `AND CloseTime BETWEEN "${day}T00:00:00Z" AND "${next}T00:00:00Z"`;
    await page.goto(`${ui}/namespaces/default/workflows`);
    await page.getByTestId('toggle-manual-query').click();
    const deadline = Date.now() + 30_000;
    for (;;) {
      await page.getByTestId('workflow-manual-search-input').fill(query);
      await page.getByTestId('workflow-manual-search-input').press('Enter');
      try {
        await rowOf(deployed.workflowId).waitFor({ timeout: 5_000 });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
      }
    }
    expect(decodeURIComponent(new URL(page.url()).searchParams.get('query') ?? '')).toBe(query);
    await expect(rowOf(rejected.workflowId).count()).resolves.toBe(0);
    await expect(page.locator('tbody tr').filter({ has: page.getByRole('link', { name: /^deployment-/ }) }).count()).resolves.toBe(1);
    // The columns chosen earlier stay (the UI keeps them per namespace in the browser).
    await expect(rowOf(deployed.workflowId).getByText('bob,erin', { exact: true }).count()).resolves.toBe(1);
    await screenshot('temporal-ui-deployments.png');
  }, 60_000);

  it('shows the summary, the details and the current details on the workflow page', async () => {
    await rowOf(deployed.workflowId).getByRole('link', { name: deployed.workflowId, exact: true }).click();
    await page.getByRole('tab', { name: /User Metadata/ }).click();
    await page.waitForURL(/\/user-metadata/);
    // The UI renders each of the three as Markdown in its own sandboxed frame.
    const summary = page.frameLocator('#user-metadata-summary');
    const details = page.frameLocator('#user-metadata-details');
    const current = page.frameLocator('#user-metadata-current-details');
    // Summary and details: static, set when the workflow started.
    await summary.getByText(`Deploy ${service} to production: ${shipped.artifact.name} (tier high, 2 approvals)`).waitFor();
    for (const text of [
      `${service} → production`,
      `Artifact: ${shipped.artifact.name} @ ${shipped.artifact.digest}`,
      `Commit: ${shipped.change.commit} by alice@example.com`,
      'Requested by ci; tier high needs 2 approval(s)',
    ]) {
      await details.getByText(text).first().waitFor();
    }
    // Current details: the gate as it ended, which the UI asks the workflow for (a worker answers).
    await current.getByText(`DEPLOYED: ${service} to production, ${shipped.artifact.name}@${shipped.artifact.digest}`).waitFor();
    await current.getByText('Tier high: 2 of 2 approvals').waitFor();
    await current.getByText('Approved by: bob, erin').waitFor();
    await current.getByText(/^Decision: deployed /).waitFor();
    await screenshot('temporal-ui-deployment-detail.png');
  }, 60_000);

  it('lists every attempt in the history: the refused approval with its input and the gate\'s answer', async () => {
    await page.getByRole('tab', { name: /Event History/ }).click();
    await page.waitForURL(/\/history/);
    const updates = page.locator('tr').filter({ hasText: 'Workflow Execution Update Accepted' });
    await expect(updates.count()).resolves.toBe(3); // alice (refused), bob, erin
    // The trail's writes: local activities, each a marker that carries what it wrote.
    await page.locator('tr').filter({ hasText: /Marker Recorded|Local Activity/ }).first().waitFor();
    await page.locator('tr').filter({ hasText: 'Activity Task Scheduled' }).filter({ hasText: /\bdeploy\b/ }).first().waitFor();

    // Newest first: the last update row is the first attempt, alice's.
    const first = updates.last();
    await first.click();
    const main = page.locator('main');
    await main.getByText('"name": "approve"').first().waitFor();
    await main.getByText('"id": "alice"').first().waitFor();
    await main.getByText('"outcome": "refused"').first().waitFor();
    await main.getByText('"reason": "AUTHOR"').first().waitFor();
    // The expanded row below it holds the update's request (event 11) and the gate's answer (12);
    // a taller window keeps all of it clear of the sticky header and the pager.
    if (updateScreenshots) await page.setViewportSize({ width: 2000, height: 1600 });
    await screenshot('temporal-ui-refused-approval.png', page.locator('tr[id^="event-details-"]').filter({ hasText: '"reason": "AUTHOR"' }));
  }, 60_000);
});
