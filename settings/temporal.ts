// Connecting to Temporal, and making sure the namespace knows Countersign's search attributes.

import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { describeTemporalConnection, type TemporalConnectionSettings } from './temporal-connection';

/**
 * Custom search attributes Countersign needs, in the CLI's spelling: registered by the dev server at
 * launch (local/embedded-temporal.ts) and by ensureSearchAttributes on an existing cluster. They must
 * match `SearchKeys` in workflows/definitions.ts (a unit test holds them together); the workflow
 * cannot upsert an attribute the server does not know.
 */
export const DEPLOY_SEARCH_ATTRIBUTES: Readonly<Record<string, 'Keyword' | 'KeywordList'>> = Object.freeze({
  DeployService: 'Keyword',
  DeployEnvironment: 'Keyword',
  DeployArtifactDigest: 'Keyword',
  DeployTier: 'Keyword',
  DeployStatus: 'Keyword',
  DeployRequester: 'Keyword',
  DeployApprovers: 'KeywordList',
});

export async function connectTemporal(
  address: string,
  secured: TemporalConnectionSettings = {},
  deadlineMs = 60_000,
): Promise<Connection> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const connectTimeout = Math.max(1_000, Math.min(10_000, deadline - Date.now()));
      return await Connection.connect({ address, tls: secured.tls, apiKey: secured.apiKey, metadata: secured.metadata, connectTimeout });
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(
          `cannot reach Temporal at ${address} over ${describeTemporalConnection(secured)}: ${(err as Error).message}. ` +
            'Check TEMPORAL_ADDRESS and the TEMPORAL_TLS_* settings.',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Registers any missing search attribute; production clusters may also do it by hand (docs/PRODUCTION.md). */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const Type = temporal.api.enums.v1.IndexedValueType;
  const missing = Object.entries(DEPLOY_SEARCH_ATTRIBUTES).filter(([name]) => !known.has(name));
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map(([name, type]) => [
          name,
          type === 'Keyword' ? Type.INDEXED_VALUE_TYPE_KEYWORD : Type.INDEXED_VALUE_TYPE_KEYWORD_LIST,
        ]),
      ),
    });
  } catch (err) {
    throw new Error(
      `Temporal namespace ${namespace} lacks search attributes ${missing.map(([n]) => n).join(', ')} and they could not be added ` +
        `(${(err as Error).message}); register them as docs/PRODUCTION.md shows`,
    );
  }
}
