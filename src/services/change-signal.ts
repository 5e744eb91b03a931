import type { Kysely } from 'kysely';
import { pick } from '../db/repositories/index.js';
import type { Database } from '../db/schema.js';

interface Waiter {
  tenantId: string;
  /** The last seq the waiter has seen: it wakes when the tenant's head passes it. */
  seenSeq: number;
  wake: () => void;
}

/**
 * Tells long-polling feed readers that a tenant has new events. A commit on this instance
 * wakes them at once; commits of other instances on the same store are noticed by polling
 * the tenants' heads every `pollIntervalMs`, only while someone waits (one indexed query per
 * interval for all waiting tenants). Chosen over LISTEN/NOTIFY: no extra connection to keep
 * alive through outages, nothing added to the write path, and the same code on SQLite.
 */
export class ChangeSignal {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly pollIntervalMs: number,
    private readonly onPollError: (error: unknown) => void = () => {},
  ) {}

  /** A write on this instance committed events of `tenantId`. */
  committed(tenantId: string): void {
    for (const waiter of this.waiters) if (waiter.tenantId === tenantId) waiter.wake();
  }

  /** Resolves when `tenantId` has an event after `seenSeq`, after `timeoutMs`, on abort or on close. */
  wait(tenantId: string, seenSeq: number, timeoutMs: number, abort?: AbortSignal): Promise<void> {
    if (this.closed || abort?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter: Waiter = {
        tenantId,
        seenSeq,
        wake: () => {
          clearTimeout(timeout);
          abort?.removeEventListener('abort', waiter.wake);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timeout = setTimeout(waiter.wake, timeoutMs);
      abort?.addEventListener('abort', waiter.wake);
      this.waiters.add(waiter);
      this.schedulePoll();
    });
  }

  /** Wakes every waiter and stops polling (the app is closing). */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.wake();
    if (this.timer) clearTimeout(this.timer);
  }

  private schedulePoll(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.poll()
        .catch(this.onPollError)
        .finally(() => {
          this.timer = null;
          if (this.waiters.size > 0) this.schedulePoll();
        });
    }, this.pollIntervalMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const tenantIds = [...new Set([...this.waiters].map((w) => w.tenantId))];
    if (tenantIds.length === 0) return;
    const heads = await pick(this.db, ['events']).events.lastSeqs(tenantIds);
    for (const waiter of [...this.waiters]) {
      if ((heads.get(waiter.tenantId) ?? 0) > waiter.seenSeq) waiter.wake();
    }
  }
}
