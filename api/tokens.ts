// Injection tokens for what the API is given from outside Nest.
export const DATA_SOURCE = Symbol('DataSource');
export const TEMPORAL_CLIENT = Symbol('TemporalClient');
export const POLICY = Symbol('PolicyHolder');
export const API_OPTIONS = Symbol('ApiOptions');

export interface ApiOptions {
  namespace: string;
  taskQueue: string;
  temporalUiUrl?: string;
  /** Failed authentications a client may make per minute before it is answered 429. */
  authFailuresPerMinute?: number;
}
