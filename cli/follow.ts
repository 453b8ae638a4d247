// `--wait`: follows a deployment's gate through its event stream (GET /v1/deployments/{id}/events,
// server-sent events pushed by the server: nothing polls), reconnecting with Last-Event-ID when the
// stream is cut, until the wanted state, a refusal, or the timeout. One plain line per change in
// CI; on a terminal, a live status line with the elapsed time as well.

import type { DeploymentView } from '../policy/types';
import { type CliIo, CliError, EXIT, refusal, type Server } from './common';
import { changeLines, formatElapsed, isRefused, isWanted, printable, statusLine, stillNeeds, verdictLine } from './lines';
import { readSse } from './sse';

export type Until = 'approved' | 'deployed';

export interface FollowOptions {
  until: Until;
  /** Give up (exit 4) after this long; the request stays pending. */
  timeoutMs?: number;
  /** Give up (exit 3) when the server cannot be reached for this long in a row. */
  unreachableForMs?: number;
  /** A stream that carries nothing, not even a keep-alive, for this long is dead: reconnect. */
  silentForMs?: number;
}

const DEFAULT_UNREACHABLE_FOR_MS = 5 * 60_000;
const DEFAULT_SILENT_FOR_MS = 60_000;

/** Where the lines go: plain lines; on a terminal, also a status line redrawn every second. */
export class Printer {
  private view?: DeploymentView;
  private note?: string;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: CliIo,
    private readonly started: number,
  ) {}

  private get elapsed(): string {
    return formatElapsed(Date.now() - this.started);
  }

  line(text: string): void {
    if (this.io.isTTY) this.io.stdout('\r\x1b[2K');
    this.io.stdout(`${printable(`[${this.elapsed}] ${text}`)}\n`);
    this.draw();
  }

  status(view: DeploymentView, note?: string): void {
    this.view = view;
    this.note = note;
    if (!this.io.isTTY) return;
    this.draw();
    if (!this.timer) {
      this.timer = setInterval(() => this.draw(), 1000);
      this.timer.unref();
    }
  }

  private draw(): void {
    if (!this.io.isTTY || !this.view) return;
    const text = printable(statusLine(this.view, Date.now() - this.started, this.note));
    // One row: a wrapped line could not be redrawn in place.
    const width = Math.max(20, (this.io.columns ?? 80) - 1);
    this.io.stdout(`\r\x1b[2K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.io.isTTY && this.view) this.io.stdout('\r\x1b[2K');
    this.view = undefined;
  }
}

/** How a follow ended other than with the wanted state: the exit code, the reason, the last view seen. */
export class FollowEnd extends CliError {
  constructor(exit: number, message: string, readonly view: DeploymentView) {
    super(exit, message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** A view from the stream, when it is one of this deployment. */
function parseView(data: string, id: string): DeploymentView | undefined {
  try {
    const view = JSON.parse(data) as DeploymentView;
    if (view && view.id === id && typeof view.version === 'number' && typeof view.status === 'string' && Array.isArray(view.approvals)) return view;
  } catch {
    // not a deployment: ignored
  }
  return undefined;
}

/**
 * Follows until the outcome and answers the exit code: 0 the wanted state; throws CliError 1
 * (the gate said no), 3 (the server refused, or could not be reached for too long) or 4 (the
 * timeout), the reason as its message, printed last.
 */
export async function follow(io: CliIo, server: Server, start: DeploymentView, options: FollowOptions): Promise<DeploymentView> {
  const started = Date.now();
  const deadline = options.timeoutMs === undefined ? Infinity : started + options.timeoutMs;
  const unreachableFor = options.unreachableForMs ?? DEFAULT_UNREACHABLE_FOR_MS;
  const silentFor = options.silentForMs ?? DEFAULT_SILENT_FOR_MS;
  const printer = new Printer(io, started);
  const url = `${server.base}/v1/deployments/${encodeURIComponent(start.id)}/events`;
  let current = start;
  let failingSince: number | undefined;
  let failure = '';
  let backoff = 1_000;
  let reconnectAfter = 2_000;

  const outcome = (): boolean => {
    if (isWanted(current.status, options.until)) return true;
    if (isRefused(current.status, options.until)) {
      throw new FollowEnd(EXIT.INVALID, `deployment ${current.id} ${verdictLine(current)}`, current);
    }
    return false;
  };
  const timedOut = () =>
    new FollowEnd(EXIT.TIMEOUT,
      `timed out after ${formatElapsed(options.timeoutMs ?? 0)}: deployment ${current.id} is still ${current.status}` +
        `${current.status === 'PENDING' && stillNeeds(current) ? ` (${stillNeeds(current)})` : ''}; the request stays pending, ` +
        'and a rerun with the same --request-id follows it again', current);
  const failed = (why: string) => {
    if (failingSince === undefined) printer.line(`cannot follow the gate just now (${why}); retrying`);
    failingSince ??= Date.now();
    failure = why;
    if (Date.now() - failingSince >= unreachableFor) {
      throw new FollowEnd(EXIT.SERVER, `gave up following deployment ${current.id} after ${formatElapsed(Date.now() - failingSince)} without the server: ${why}`, current);
    }
  };

  try {
    printer.status(current);
    for (;;) {
      if (outcome()) return current;
      if (Date.now() >= deadline) throw timedOut();

      const controller = new AbortController();
      let lastHeard = Date.now();
      let renewal = false;
      const watchdog = setInterval(() => {
        if (Date.now() >= deadline || Date.now() - lastHeard > silentFor) controller.abort();
      }, Math.min(1_000, silentFor));
      const deadlineTimer = Number.isFinite(deadline) ? setTimeout(() => controller.abort(), deadline - Date.now()) : undefined;
      try {
        let response: Response;
        let token: string;
        try {
          token = await server.token.get();
        } catch (err) {
          // A CI token endpoint that does not answer just now is an outage like the server's.
          if (!(err instanceof CliError) || err.exit !== EXIT.SERVER) throw err;
          failed(err.message);
          await sleep(Math.min(backoff, deadline - Date.now()));
          backoff = Math.min(backoff * 2, 15_000);
          continue;
        }
        try {
          response = await io.fetch(url, {
            headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, 'last-event-id': String(current.version) },
            signal: controller.signal,
          });
        } catch (err) {
          if (err instanceof CliError) throw err;
          if (Date.now() >= deadline) throw timedOut();
          const cause = (err as { cause?: { code?: string } }).cause;
          failed(`cannot reach ${url}: ${cause?.code ?? (err as Error).message}`);
          printer.status(current, `server unreachable, retrying (${failure})`);
          await sleep(Math.min(backoff, deadline - Date.now()));
          backoff = Math.min(backoff * 2, 15_000);
          continue;
        }
        if (!response.ok) {
          const text = await response.text().catch(() => '');
          let problem: any;
          try {
            problem = JSON.parse(text);
          } catch {
            problem = undefined;
          }
          // Overloaded or restarting: try again; anything else is a refusal to act on.
          if (response.status === 429 || response.status >= 500) {
            failed(`${url} answered ${response.status}${problem?.detail ? `: ${problem.detail}` : ''}`);
            const retryAfter = Number(response.headers.get('retry-after'));
            await sleep(Math.min(Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : backoff, deadline - Date.now()));
            backoff = Math.min(backoff * 2, 15_000);
            continue;
          }
          throw refusal('GET', url, response.status, problem, text, server.token.origin);
        }
        if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
          // A proxy's page, or not a Countersign server: no stream to read; try again, then give up.
          await response.body?.cancel().catch(() => undefined);
          failed(`${url} answered ${response.status} ${response.headers.get('content-type') ?? 'without a content type'}, not an event stream`);
          await sleep(Math.min(backoff, deadline - Date.now()));
          backoff = Math.min(backoff * 2, 15_000);
          continue;
        }
        failingSince = undefined;
        backoff = 1_000;
        printer.status(current);
        try {
          for await (const item of readSse(response.body!)) {
            lastHeard = Date.now();
            if ('retry' in item) reconnectAfter = Math.min(Math.max(item.retry, 250), 30_000);
            // The server ends a long stream on purpose (to authenticate again): reconnect quietly, at once.
            if ('comment' in item && item.comment.startsWith('reconnect')) renewal = true;
            if (!('data' in item)) continue;
            const view = parseView(item.data, current.id);
            if (!view || view.version <= current.version) continue;
            for (const line of changeLines(current, view)) printer.line(line);
            current = view;
            printer.status(current);
            if (outcome()) break;
          }
        } catch (err) {
          if (err instanceof CliError) throw err;
          // The stream was cut (the server restarted, the network dropped, the watchdog): reconnect.
        }
      } finally {
        clearInterval(watchdog);
        clearTimeout(deadlineTimer);
        controller.abort();
      }
      if (outcome()) continue;
      if (Date.now() >= deadline) throw timedOut();
      if (renewal) continue;
      printer.line(`stream closed; reconnecting (after version ${current.version})`);
      await sleep(Math.min(reconnectAfter, deadline - Date.now()));
    }
  } finally {
    printer.stop();
  }
}
