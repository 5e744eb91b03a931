import type { Store } from '../db/store.js';
import { pendingMigrations } from '../db/migrator.js';

export type Readiness = { ready: true } | { ready: false; detail: string; cause?: unknown };

/**
 * Whether the store can serve, for /readyz. A read answers for reachability and the schema;
 * after a request met a store outage (disk full, read-only file, lost connection), a write probe
 * also has to pass, so that an instance whose reads work but whose writes fail turns red, and
 * turns green again by itself once writes succeed (no restart).
 */
export class StoreHealth {
  private lastFailure: string | null = null;

  constructor(private readonly store: Pick<Store, 'healthDb' | 'probeWrite'>) {}

  /** Called when a request failed because the store could not serve it. */
  recordFailure(reason: string): void {
    this.lastFailure = reason;
  }

  async readiness(): Promise<Readiness> {
    let pending: string[];
    try {
      // Through a connection of its own: requests that keep every pooled connection busy make
      // the instance overloaded, not unready (taking every busy instance out of the load
      // balancer at once would turn a busy service into an unavailable one).
      pending = await pendingMigrations(this.store.healthDb);
    } catch (cause) {
      return { ready: false, detail: 'The store does not answer.', cause };
    }
    if (pending.length > 0) return { ready: false, detail: `Migrations not applied: ${pending.join(', ')}.` };
    const failure = this.lastFailure;
    if (failure === null) return { ready: true };
    try {
      await this.store.probeWrite();
    } catch (cause) {
      return { ready: false, detail: `The store refuses writes: ${failure}.`, cause };
    }
    // Only clear what this probe answered for: a failure recorded meanwhile stays.
    if (this.lastFailure === failure) this.lastFailure = null;
    return { ready: true };
  }
}
