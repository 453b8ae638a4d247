// What every response under /ui carries, and how its forms are read. Installed by
// api/server.ts ahead of the API's JSON-only body handling (which leaves /ui alone).
//
// - A strict Content-Security-Policy (helmet): `default-src 'none'`, styles from this origin only,
//   no script at all, forms post to this origin only, never framed (`frame-ancestors 'none'`
//   and X-Frame-Options: DENY), `base-uri 'none'`; no referrer leaves the page.
// - `Cache-Control: no-store`: pages hold personal data and form tokens, so no cache keeps them
//   (the stylesheet, whose name carries its hash, sets its own long cache).
// - Forms are `application/x-www-form-urlencoded`, at most 64 KiB and 20 fields; any other body
//   is answered 415.

import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';

export const UI_MOUNT = '/ui';

/** Whether a request is the approver page's, by the path it was sent to. */
export function isUiPath(originalUrl: string): boolean {
  const path = originalUrl.split('?')[0];
  return path === UI_MOUNT || path.startsWith(`${UI_MOUNT}/`);
}

export const CONTENT_SECURITY_POLICY = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
  },
};

export function uiMiddleware(): RequestHandler[] {
  const headers = helmet({
    contentSecurityPolicy: CONTENT_SECURITY_POLICY,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  });
  const forms = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 20 });
  return [
    headers,
    (_req: Request, res: Response, next: NextFunction) => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Vary', 'Cookie');
      next();
    },
    (req: Request, res: Response, next: NextFunction) => {
      const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
      if (hasBody && !req.is('application/x-www-form-urlencoded')) {
        res.status(415).type('text/plain').send('The approver page takes forms only (application/x-www-form-urlencoded).\n');
        return;
      }
      next();
    },
    forms,
  ];
}
