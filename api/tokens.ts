// Injection tokens for what the API is given from outside Nest.
export const DATA_SOURCE = Symbol('DataSource');
export const TEMPORAL_CLIENT = Symbol('TemporalClient');
export const POLICY = Symbol('PolicyHolder');
export const API_OPTIONS = Symbol('ApiOptions');
/** The Ed25519 key that signs evidence (an `EvidenceKey`), or null when none was given. */
export const EVIDENCE_KEY = Symbol('EvidenceKey');

export interface ApiOptions {
  namespace: string;
  taskQueue: string;
  temporalUiUrl?: string;
  /** Failed authentications a client may make per minute before it is answered 429. */
  authFailuresPerMinute?: number;
  /** How long an approval (or other answer) may wait for the workflow before a 503. */
  answerTimeoutMs: number;
  /** The base of links to the approver page (COUNTERSIGN_PUBLIC_URL); default the URL the caller reached. */
  publicBaseUrl?: string;
  /** Event streams (GET /v1/deployments/{id}/events) one principal may hold open at once; 429 beyond (default 32). */
  eventStreamsPerPrincipal?: number;
  /** How often an event stream sends a keep-alive comment (default 15 s). */
  eventKeepAliveMs?: number;
  /** How long one event stream lasts before the server ends it and the client reconnects, authenticating again (default 15 min). */
  eventStreamMaxMs?: number;
}
