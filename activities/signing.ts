// The one HMAC signature Countersign puts on what it POSTs (the webhook deployer, webhook
// notifications): `X-Countersign-Signature: sha256=<hex HMAC-SHA256 of the exact body>`.

import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-countersign-signature';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
