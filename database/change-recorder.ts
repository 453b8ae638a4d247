// A deployment's changes (its audit events and its index row) are written in one transaction.
// Many workflows write at once, and the trail's chain lock lets one transaction append at a
// time; so writes that arrive while one is in flight wait for it and then go together, in the
// next transaction (group commit): one lock, one read of the chain's head, one insert of events
// and one of index rows, however many wrote. A lone write goes at once, as it always did.

import type { DataSource } from 'typeorm';
import type { RecordedChanges } from '../activities/types';
import { appendAuditEventsIn } from './audit-trail';
import { DeploymentIndex } from './deployment-index';

/** Writes per transaction: each holds the chain's lock briefly, and a local activity's wait is short. */
const MOST_PER_TRANSACTION = 64;

interface Waiting {
  changes: RecordedChanges;
  done: () => void;
  failed: (err: unknown) => void;
}

export class ChangeRecorder {
  private readonly waiting: Waiting[] = [];
  private writing = false;

  constructor(private readonly db: DataSource, private readonly mostPerTransaction = MOST_PER_TRANSACTION) {}

  /** Resolves once the changes are committed; rejects with the database's error if they cannot be. */
  record(changes: RecordedChanges): Promise<void> {
    return new Promise((done, failed) => {
      this.waiting.push({ changes, done, failed });
      if (!this.writing) void this.writeWhileWaiting();
    });
  }

  private async writeWhileWaiting(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.waiting.splice(0, this.mostPerTransaction);
        try {
          await this.write(batch.map((write) => write.changes));
          for (const write of batch) write.done();
        } catch (err) {
          if (batch.length === 1) {
            batch[0].failed(err);
            continue;
          }
          // One change the database refuses must not fail the rest: each goes again on its own
          // (together, so a database that is down fails them all within one wait).
          await Promise.all(batch.map((write) => this.write([write.changes]).then(write.done, write.failed)));
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private write(all: readonly RecordedChanges[]): Promise<void> {
    // The index rows first, then the trail, whose lock is held to the commit.
    return this.db.transaction(async (manager) => {
      const views = all.flatMap((changes) => (changes.view ? [changes.view] : []));
      if (views.length > 0) await new DeploymentIndex(manager).writeAll(views);
      await appendAuditEventsIn(manager, all.flatMap((changes) => changes.events));
    });
  }
}
