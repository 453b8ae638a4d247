// The approver page (/ui): server-rendered HTML, no script. People sign in with a personal
// token or through the OIDC provider of `auth.ui.oidc`; the page then keeps a server-side session
// (./sessions.ts). Who acts is always the session's principal, never a field of a form. Answers
// go through the same DeploymentsService methods as the API's routes, so the gate decides and
// records exactly as it does for a curl.

import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  Inject,
  Logger,
  Param,
  Post,
  Req,
  Res,
  UseFilters,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Client } from '@temporalio/client';
import type { Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { listAuditEvents } from '../../database/audit-trail';
import { evidenceDocument } from '../../evidence';
import type { EvidenceKey } from '../../evidence/keys';
import { DEPLOYMENT_STATUSES, type DeploymentStatus, type DeploymentView } from '../../policy/types';
import type { PolicyHolder } from '../../settings/policy-file';
import { type Actor, Public } from '../auth/actor';
import { actorOf, AuthService } from '../auth/auth.service';
import { AuthFailures } from '../auth/rate-limit';
import { AuditService } from '../audit/audit.service';
import { DeploymentsService } from '../deployments/deployments.service';
import { Metrics } from '../health/metrics';
import { badCharacter, refusedBodyProblem } from '../input-guard';
import { Problem, toProblem } from '../problem';
import { API_OPTIONS, type ApiOptions, DATA_SOURCE, EVIDENCE_KEY, POLICY, TEMPORAL_CLIENT } from '../tokens';
import { ICON, ICON_PATH, STYLESHEET, STYLESHEET_PATH } from './assets';
import type { Html } from './html';
import { SignInError, UiOidc } from './oidc-sign-in';
import {
  csrfMatches,
  csrfTokenFor,
  newOpaqueId,
  OIDC_STATE_COOKIE,
  readCookie,
  type Resumed,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
  SIGN_IN_TTL_MS,
  UiSessions,
  cameOverTls,
} from './sessions';
import { type Chrome, deploymentPage, errorPage, historyPage, isAuditor, signInPage, waitingPage } from './views';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MAX_TEXT = 4000;
const PAGE_SIZE = 50;
/** A page of this site to return to after signing in: a path under /ui/, nothing that leaves it. */
const NEXT_PATH = /^\/ui\/[A-Za-z0-9._~\-/%?=&]*$/;

type Signed = Extract<Resumed, { ok: true }>;

function send(res: Response, status: number, page: Html): void {
  res.status(status).type('text/html; charset=utf-8').send(page.markup);
}

/** A form field as text: missing, repeated (an array) or not text is undefined. */
function field(body: unknown, name: string): string | undefined {
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function safeNext(value: unknown): string | undefined {
  return typeof value === 'string' && NEXT_PATH.test(value) && !value.includes('//') && !value.includes('/..') ? value : undefined;
}

/** Renders what a route threw as a page (never a stack, never a secret). */
@Catch()
export class UiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Ui');

  catch(err: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    const problem = toProblem(err);
    if (problem.getStatus() >= 500) this.logger.error(`${req.method} ${req.path}: ${(err as Error)?.stack ?? String(err)}`);
    if (res.headersSent) return;
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
    const title = problem.getStatus() === 404 ? 'Not found' : problem.getStatus() === 503 ? 'Try again in a moment' : 'This did not work';
    send(res, problem.getStatus(), errorPage({}, problem.getStatus(), title, problem.detail));
  }
}

@ApiExcludeController()
@Public()
@UseFilters(UiErrorFilter)
@Controller('ui')
export class UiController {
  private readonly logger = new Logger('Ui');

  constructor(
    private readonly sessions: UiSessions,
    private readonly auth: AuthService,
    private readonly failures: AuthFailures,
    private readonly deployments: DeploymentsService,
    private readonly audit: AuditService,
    private readonly oidc: UiOidc,
    private readonly metrics: Metrics,
    @Inject(POLICY) private readonly policy: PolicyHolder,
    @Inject(API_OPTIONS) private readonly options: ApiOptions,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(EVIDENCE_KEY) private readonly key: EvidenceKey | null,
    @Inject(TEMPORAL_CLIENT) private readonly temporal: Client,
  ) {}

  // ---- static -------------------------------------------------------------------------------

  @Get('static/:file')
  stylesheet(@Param('file') file: string, @Res() res: Response): void {
    if (`/ui/static/${file}` === ICON_PATH) {
      res.setHeader('Cache-Control', 'public, max-age=86400');
      res.status(200).type('image/svg+xml').send(ICON);
      return;
    }
    if (`/ui/static/${file}` !== STYLESHEET_PATH) throw new Problem(404, 'not-found', `no file ${file}; the stylesheet is ${STYLESHEET_PATH}`);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.status(200).type('text/css; charset=utf-8').send(STYLESHEET);
  }

  // ---- signing in and out -------------------------------------------------------------------

  @Get('sign-in')
  async signInForm(@Req() req: Request, @Res() res: Response): Promise<void> {
    const current = await this.sessions.resume(readCookie(req, SESSION_COOKIE));
    if (current.ok) return res.redirect(303, safeNext(req.query.next) ?? '/ui/');
    const notice = req.query['signed-out'] !== undefined ? 'You are signed out.' : req.query.ended !== undefined ? 'Your session ended; sign in again.' : undefined;
    this.renderSignIn(req, res, 200, { notice });
  }

  private renderSignIn(req: Request, res: Response, status: number, options: { problem?: string; notice?: string }): void {
    // The sign-in form's token is bound to a random cookie of this browser (no session yet).
    let pre = readCookie(req, SIGN_IN_COOKIE);
    if (!pre) {
      pre = newOpaqueId();
      this.sessions.setCookie(req, res, SIGN_IN_COOKIE, pre, SIGN_IN_TTL_MS * 6);
    }
    const next = safeNext(req.query.next) ?? safeNext(field(req.body, 'next'));
    const page = signInPage({ csrf: csrfTokenFor(pre), oidcLabel: this.policy.current().ui.oidc?.label, ...options, next });
    send(res, status, page);
  }

  @Post('sign-in')
  async signIn(@Req() req: Request, @Res() res: Response): Promise<void> {
    const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const unreadable = refusedBodyProblem(req.body);
    if (unreadable) return this.renderSignIn(req, res, 400, { problem: `The form could not be read: ${unreadable.detail}.` });
    if (!csrfMatches(readCookie(req, SIGN_IN_COOKIE), field(req.body, 'csrf'))) {
      return this.renderSignIn(req, res, 403, { problem: 'This sign-in form has expired or did not come from this page. It has been reloaded: sign in again.' });
    }
    try {
      this.failures.assertMayTry(client, 'token');
    } catch (err) {
      const problem = toProblem(err);
      for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
      return this.renderSignIn(req, res, problem.getStatus(), { problem: problem.detail });
    }
    const token = field(req.body, 'token')?.trim() ?? '';
    const result = token ? await this.auth.authenticateToken(token) : { ok: false as const, reason: 'no token given' };
    if (!result.ok) {
      this.failures.record(client);
      await this.audit.record({ type: 'ui.sign-in.refused', actor: `client:${client}`, outcome: 'refused', reason: result.reason, data: { via: 'token' } });
      return this.renderSignIn(req, res, 401, { problem: `That token was not accepted (${result.reason}). Check it, or ask an admin for a new one.` });
    }
    await this.openSession(req, res, result.actor, 'token', result.actor.tokenId);
  }

  /** Opens a new session (never reusing an id the browser already had) and goes on. */
  private async openSession(req: Request, res: Response, actor: Actor, via: 'token' | 'oidc', tokenId?: string): Promise<void> {
    if (!actor.roles.includes('approver') && !actor.roles.includes('admin')) {
      await this.audit.record({ type: 'ui.sign-in.refused', actor: actor.id, outcome: 'refused', reason: 'needs role approver or admin', data: { via } });
      return this.renderSignIn(req, res, 403, { problem: `${actor.id} has no approver or admin role; the approver page is for people who answer or audit requests.` });
    }
    // Whatever session this browser had ends here: a planted id is never the one signed in.
    await this.sessions.close(readCookie(req, SESSION_COOKIE));
    const { id, maxAgeMs } = await this.sessions.open(actor.id, via, tokenId);
    this.sessions.setCookie(req, res, SESSION_COOKIE, id, maxAgeMs);
    this.sessions.clearCookie(req, res, SIGN_IN_COOKIE);
    await this.audit.record({ type: 'ui.signed-in', actor: actor.id, outcome: 'accepted', data: { via, ...(tokenId ? { tokenId } : {}) } });
    res.redirect(303, safeNext(field(req.body, 'next')) ?? '/ui/');
  }

  @Post('sign-out')
  async signOut(@Req() req: Request, @Res() res: Response): Promise<void> {
    const id = readCookie(req, SESSION_COOKIE);
    const current = await this.sessions.resume(id);
    if (current.ok) {
      if (!csrfMatches(current.id, field(req.body, 'csrf'))) return this.csrfRefused(res, current);
      await this.sessions.close(current.id);
      await this.audit.record({ type: 'ui.signed-out', actor: current.actor.id, outcome: 'accepted', data: {} });
    }
    this.sessions.clearCookie(req, res, SESSION_COOKIE);
    res.redirect(303, '/ui/sign-in?signed-out');
  }

  @Get('oidc/start')
  async oidcStart(@Req() req: Request, @Res() res: Response): Promise<void> {
    const provider = this.policy.current().ui.oidc;
    if (!provider) throw new Problem(404, 'not-found', 'single sign-on is not configured here (auth.ui.oidc); sign in with a token');
    let started;
    try {
      started = await this.oidc.start(provider, this.redirectUri(req));
    } catch (err) {
      if (err instanceof SignInError) return this.renderSignIn(req, res, 503, { problem: err.message });
      throw err;
    }
    await this.sessions.beginSignIn(started.state, started.codeVerifier, started.nonce);
    // The state must come back to the browser that started: a callback from elsewhere is refused.
    this.sessions.setCookie(req, res, OIDC_STATE_COOKIE, started.state, SIGN_IN_TTL_MS);
    res.redirect(303, started.url);
  }

  @Get('oidc/callback')
  async oidcCallback(@Req() req: Request, @Res() res: Response): Promise<void> {
    const provider = this.policy.current().ui.oidc;
    if (!provider) throw new Problem(404, 'not-found', 'single sign-on is not configured here (auth.ui.oidc); sign in with a token');
    const client = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const state = typeof req.query.state === 'string' ? req.query.state : undefined;
    const code = typeof req.query.code === 'string' ? req.query.code : undefined;
    const cookie = readCookie(req, OIDC_STATE_COOKIE);
    this.sessions.clearCookie(req, res, OIDC_STATE_COOKIE);
    const refuse = async (reason: string, status = 400) => {
      this.failures.record(client);
      await this.audit.record({ type: 'ui.sign-in.refused', actor: `client:${client}`, outcome: 'refused', reason, data: { via: 'oidc' } });
      this.renderSignIn(req, res, status, { problem: `Single sign-on did not complete: ${reason}.` });
    };
    if (typeof req.query.error === 'string') return refuse(`the provider answered ${req.query.error.slice(0, 100)}`);
    if (!state || !code) return refuse('the provider sent no code or state back');
    if (!cookie || cookie !== state) return refuse('this sign-in was not started in this browser (its state does not match); start it again', 403);
    const kept = await this.sessions.takeSignIn(state);
    if (!kept) return refuse('this sign-in was already used or took too long; start it again', 403);
    try {
      this.failures.assertMayTry(client, 'sign-in');
      const principal = await this.oidc.finish(provider, { code, redirectUri: this.redirectUri(req), codeVerifier: kept.codeVerifier, nonce: kept.nonce });
      await this.openSession(req, res, actorOf(principal, 'oidc'), 'oidc');
    } catch (err) {
      if (err instanceof SignInError) return refuse(err.message.replace(/\.$/, ''), 401);
      throw err;
    }
  }

  /** The callback URL: as configured, else this page's own, as the browser reached it. */
  private redirectUri(req: Request): string {
    const configured = this.policy.current().ui.oidc?.redirectUrl;
    if (configured) return configured;
    const scheme = cameOverTls(req, this.policy.current().ui) ? 'https' : 'http';
    return `${scheme}://${req.headers.host ?? 'localhost'}/ui/oidc/callback`;
  }

  // ---- pages of a signed-in person ----------------------------------------------------------

  /** The session, or a redirect to sign in (a GET) / a 401 page (a POST); undefined when answered. */
  private async session(req: Request, res: Response): Promise<Signed | undefined> {
    const cookie = readCookie(req, SESSION_COOKIE);
    const current = await this.sessions.resume(cookie);
    if (current.ok) return current;
    if (req.headers.cookie?.includes(`${SESSION_COOKIE}=`)) this.sessions.clearCookie(req, res, SESSION_COOKIE);
    if (req.method === 'GET') {
      const back = safeNext(req.originalUrl);
      const query = new URLSearchParams();
      if (cookie) query.set('ended', '');
      if (back && back !== '/ui/') query.set('next', back);
      const rest = query.toString().replace(/=(?=&|$)/g, '');
      res.redirect(303, `/ui/sign-in${rest ? `?${rest}` : ''}`);
    } else {
      this.renderSignIn(req, res, 401, { problem: `You are not signed in (${current.reason}); nothing was sent. Sign in and try again.` });
    }
    return undefined;
  }

  private chrome(session: Signed, current?: Chrome['current']): Chrome {
    return { actor: session.actor, csrf: csrfTokenFor(session.id), current };
  }

  /**
   * A form the input guard refused (a control character, a lone surrogate): a page that says so.
   * Nothing is recorded in the person's name, since the form's token could not be checked.
   */
  private unreadable(req: Request, res: Response, session: Signed): boolean {
    const problem = refusedBodyProblem(req.body);
    if (!problem) return false;
    send(res, 400, errorPage(this.chrome(session), 400, 'The form could not be read', `${problem.detail}. Nothing was sent: go back, correct it and send it again.`));
    return true;
  }

  private csrfRefused(res: Response, session: Signed): void {
    send(res, 403, errorPage(this.chrome(session), 403, 'This form has expired',
      'The form did not carry this session\'s form token (it came from another site, or from a page served before you last signed in). Nothing was changed: open the page again and resend it.'));
  }

  @Get()
  async waiting(@Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.session(req, res);
    if (!session) return;
    const before = typeof req.query.before === 'string' ? req.query.before : undefined;
    const { deployments, next } = await this.deployments.waitingFor(session.actor, { limit: PAGE_SIZE, before });
    const notice = !session.actor.roles.includes('approver')
      ? 'You have no approver role, so nothing waits for you; the History page lists every deployment.'
      : undefined;
    send(res, 200, waitingPage(this.chrome(session), deployments, { next, notice }));
  }

  @Get('history')
  async history(@Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.session(req, res);
    if (!session) return;
    if (!isAuditor(session.actor)) {
      return send(res, 403, errorPage(this.chrome(session), 403, 'History is for auditors', `${session.actor.id} has no admin role; the history of decided deployments is for admins and auditors.`));
    }
    const raw = typeof req.query.status === 'string' && req.query.status !== '' ? req.query.status : undefined;
    const status = raw && (DEPLOYMENT_STATUSES as readonly string[]).includes(raw) ? (raw as DeploymentStatus) : undefined;
    const before = typeof req.query.before === 'string' ? req.query.before : undefined;
    const { deployments, next } = await this.deployments.list(session.actor, { status, limit: PAGE_SIZE, before });
    send(res, 200, historyPage(this.chrome(session, 'history'), deployments, { status, next, temporalUrl: (view) => this.temporalUrl(view) }));
  }

  private temporalUrl(view: Pick<DeploymentView, 'workflowId'>): string | undefined {
    const ui = this.options.temporalUiUrl;
    if (!ui) return undefined;
    return `${ui.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(this.options.namespace)}/workflows/${encodeURIComponent(view.workflowId)}`;
  }

  @Get('deployments/:id')
  async deployment(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.session(req, res);
    if (!session) return;
    const answered = req.query.answered === 'approval' || req.query.answered === 'rejection' ? req.query.answered : undefined;
    await this.renderDeployment(res, session, id, 200, { answered });
  }

  private async renderDeployment(
    res: Response,
    session: Signed,
    id: string,
    status: number,
    extra: { answered?: 'approval' | 'rejection'; refusal?: { kind: string; reason?: string; detail: string; status?: number }; typed?: { digest?: string; comment?: string; reason?: string } },
  ): Promise<void> {
    const [{ view, source }, timeline] = await Promise.all([
      this.deployments.get(session.actor, id),
      listAuditEvents(this.db, { deploymentId: id, limit: 200 }),
    ]);
    send(res, status, deploymentPage(this.chrome(session), view, {
      csrf: csrfTokenFor(session.id),
      timeline: timeline.events,
      timelineCut: timeline.next !== null,
      temporalUrl: this.temporalUrl(view),
      source,
      ...extra,
    }));
  }

  @Post('deployments/:id/approve')
  async approve(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.session(req, res);
    if (!session) return;
    if (this.unreadable(req, res, session)) return;
    if (!csrfMatches(session.id, field(req.body, 'csrf'))) return this.csrfRefused(res, session);
    const digest = field(req.body, 'digest')?.trim() ?? '';
    const comment = field(req.body, 'comment')?.trim() ?? '';
    const typed = { digest, comment };
    if (!this.mayAnswer(res, session)) return;
    let malformed: string | undefined;
    if (!DIGEST.test(digest)) malformed = `${JSON.stringify(digest.slice(0, 80))} is not a digest: enter sha256: followed by the 64 lowercase hex characters of the artifact you reviewed`;
    else if (comment.length > MAX_TEXT) malformed = `the comment is longer than ${MAX_TEXT} characters; shorten it`;
    if (malformed) {
      await this.deployments.assertVisible(session.actor, id);
      await this.deployments.recordMalformed(session.actor, id, 'approval', malformed);
      return this.renderDeployment(res, session, id, 422, { refusal: { kind: 'approval', detail: malformed }, typed });
    }
    try {
      await this.deployments.approve(session.actor, id, digest, comment || undefined);
    } catch (err) {
      return this.refused(res, session, id, 'approval', err, typed);
    }
    res.redirect(303, `/ui/deployments/${encodeURIComponent(id)}?answered=approval`);
  }

  @Post('deployments/:id/reject')
  async reject(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.session(req, res);
    if (!session) return;
    if (this.unreadable(req, res, session)) return;
    if (!csrfMatches(session.id, field(req.body, 'csrf'))) return this.csrfRefused(res, session);
    const reason = field(req.body, 'reason')?.trim() ?? '';
    const typed = { reason };
    if (!this.mayAnswer(res, session)) return;
    let malformed: string | undefined;
    if (reason === '') malformed = 'a rejection needs a reason: say why, for the requester and the audit trail';
    else if (reason.length > MAX_TEXT) malformed = `the reason is longer than ${MAX_TEXT} characters; shorten it`;
    else if (badCharacter(reason)) malformed = `the reason contains ${badCharacter(reason)}; remove it`;
    if (malformed) {
      await this.deployments.assertVisible(session.actor, id);
      await this.deployments.recordMalformed(session.actor, id, 'rejection', malformed);
      return this.renderDeployment(res, session, id, 422, { refusal: { kind: 'rejection', detail: malformed }, typed });
    }
    try {
      await this.deployments.reject(session.actor, id, reason);
    } catch (err) {
      return this.refused(res, session, id, 'rejection', err, typed);
    }
    res.redirect(303, `/ui/deployments/${encodeURIComponent(id)}?answered=rejection`);
  }

  /** Answers need the approver role, as the API's routes do. */
  private mayAnswer(res: Response, session: Signed): boolean {
    if (session.actor.roles.includes('approver')) return true;
    void this.audit.record({ type: 'authz.refused', actor: session.actor.id, outcome: 'refused', reason: 'needs role approver', data: { via: 'ui' } });
    send(res, 403, errorPage(this.chrome(session), 403, 'You cannot answer requests',
      `${session.actor.id} has no approver role, so cannot approve or reject. Ask an admin to grant it.`));
    return false;
  }

  /** The gate (or the API before it) refused the answer: the page again, with why, in words. */
  private async refused(res: Response, session: Signed, id: string, kind: 'approval' | 'rejection', err: unknown, typed: Record<string, string>): Promise<void> {
    const problem = toProblem(err);
    if (!(err instanceof Problem) || problem.getStatus() === 404) throw err;
    for (const [name, value] of Object.entries(problem.headers)) res.setHeader(name, value);
    const reason = typeof problem.extensions.reason === 'string' ? problem.extensions.reason : undefined;
    if (reason) this.metrics.refusals.inc({ reason });
    await this.renderDeployment(res, session, id, problem.getStatus(), { refusal: { kind, reason, detail: problem.detail, status: problem.getStatus() }, typed });
  }

  @Get('deployments/:id/evidence')
  async evidence(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const session = await this.session(req, res);
    if (!session) return;
    const { view, source, request } = await this.deployments.getWithRequest(session.actor, id);
    if (!this.key) throw new Problem(503, 'evidence-not-configured', 'this server has no evidence key, so it cannot sign evidence');
    if (source === 'index') {
      throw new Problem(503, 'gate-unavailable', 'the gate did not answer, and evidence of an open deployment is signed only from its live state; try again in a few seconds', {}, { 'Retry-After': '5' });
    }
    let runId: string | undefined;
    try {
      runId = (await this.temporal.withDeadline(Date.now() + 5_000, () => this.temporal.workflow.getHandle(view.workflowId).describe())).runId;
    } catch (err) {
      this.logger.warn(`${view.workflowId}: no run id for the evidence (${(err as Error).message})`);
    }
    const { json, sha256 } = evidenceDocument({ deployment: view, request, runId, namespace: this.options.namespace, temporalUiUrl: this.options.temporalUiUrl }, this.key);
    res.status(200).type('application/json').setHeader('X-Evidence-SHA256', sha256);
    res.setHeader('Content-Disposition', `attachment; filename="evidence-${id.replace(/[^A-Za-z0-9-]/g, '')}.json"`);
    res.send(json);
  }
}
