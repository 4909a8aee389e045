import {
  type DeliveryOutcome,
  type EventSender,
  type NoticeSender,
  nextAttemptAt,
  type OutboxEntry,
  type OutboxRepository,
  type OutboxStream,
} from "../domain/events.js";
import type { Clock } from "../domain/ports.js";
import type { Logger } from "../logger.js";

/** Dependencies of {@link createOutboxDispatcher}. */
export interface OutboxDispatcherDeps {
  readonly outbox: OutboxRepository;
  readonly events: EventSender;
  readonly notices: NoticeSender;
  /** The gateway's public address, for revert links (read at delivery: it may be known only once listening). */
  readonly publicUrl: () => string;
  readonly clock: Clock;
  /** A number in [0, 1): the jitter of retries. */
  readonly random: () => number;
  readonly log: Logger;
  /** Hears every attempt's outcome (metrics). */
  readonly observe?: (stream: OutboxStream, delivered: boolean) => void;
  /** Entries claimed per round. */
  readonly batchSize?: number;
  /** How long a claim holds its entries: longer than any one delivery may take. */
  readonly leaseMs: number;
  /** How often an idle dispatcher looks for due entries (written by other processes, or due for a retry). */
  readonly pollIntervalMs?: number;
  /**
   * The least time between the starts of two rounds while changes keep coming: under load a round then carries many
   * entries, so the claim and settle statements cost little per entry (events are late by at most this much).
   */
  readonly roundIntervalMs?: number;
}

/** Delivers the outbox: claims due entries, sends them, records the outcomes. */
export interface OutboxDispatcher {
  /** One round: claims up to a batch of due entries and delivers them; resolves to how many it handled. */
  runOnce(): Promise<number>;
  /** Asks for a round soon (after a change committed); never waits for it. Does nothing unless started. */
  wake(): void;
  /** Starts the background loop: rounds after each wake, and every poll interval. */
  start(): void;
  /**
   * Stops the loop and waits for the round in progress, at most `waitMs`: a shutdown does not wait for a slow
   * receiver. A round cut short leaves its entries claimed; they are delivered again once the claim ends.
   */
  stop(waitMs?: number): Promise<void>;
}

/**
 * The outbox dispatcher of one gateway process. Every process runs one; claims keep them from sending the same
 * entry twice (in the normal case) and a user's entries of one stream in order. A failed entry is retried with
 * exponential backoff and jitter until its retry window ends, then it is dead (the CLI can redeliver it).
 */
export function createOutboxDispatcher(deps: OutboxDispatcherDeps): OutboxDispatcher {
  const { outbox, events, notices, publicUrl, clock, random, log, observe, leaseMs } = deps;
  const batchSize = deps.batchSize ?? 64;
  const pollIntervalMs = deps.pollIntervalMs ?? 1000;
  const roundIntervalMs = deps.roundIntervalMs ?? 50;

  async function deliver(entry: OutboxEntry): Promise<void> {
    if (entry.stream === "events") return events.sendEvent({ id: entry.id, body: entry.body });
    const notice = entry.notice;
    if (notice === undefined) throw new Error("the revert token of this notice is no longer stored");
    const revertUrl = `${publicUrl().replace(/\/+$/, "")}/userinfo/revert?token=${encodeURIComponent(notice.revertToken)}`;
    return notices.sendNotice({
      channel: notice.channel,
      to: notice.to,
      attribute: notice.attribute,
      newValue: notice.newValue,
      revertUrl,
      expiresAt: notice.expiresAt,
    });
  }

  async function runOnce(): Promise<number> {
    const claimed = await outbox.claim({ now: clock.now(), limit: batchSize, leaseMs });
    if (claimed.length === 0) return 0;
    // One entry per user and stream: they can all go at once.
    const outcomes = await Promise.all(
      claimed.map(async (entry): Promise<DeliveryOutcome> => {
        try {
          await deliver(entry);
          observe?.(entry.stream, true);
          return { id: entry.id, delivered: true };
        } catch (error) {
          observe?.(entry.stream, false);
          const now = clock.now();
          const next = nextAttemptAt(entry.attempts + 1, now, entry.retryUntil, random());
          const message = error instanceof Error ? error.message : String(error);
          log.warn(
            {
              outbox: { id: entry.id, stream: entry.stream, attempts: entry.attempts + 1, dead: next === null },
              error: message,
            },
            "outbox delivery failed",
          );
          return { id: entry.id, delivered: false, error: message.slice(0, 500), nextAttemptAt: next };
        }
      }),
    );
    await outbox.settle(outcomes, clock.now());
    return claimed.length;
  }

  let started = false;
  let running: Promise<void> | undefined;
  let again = false;
  let poll: NodeJS.Timeout | undefined;

  async function loop(): Promise<void> {
    try {
      while (started) {
        again = false;
        const roundStarted = performance.now();
        const handled = await runOnce();
        if (handled === 0 && !again) break;
        // A full batch goes on at once (a backlog drains at full speed); otherwise let the next round gather entries.
        const wait = roundIntervalMs - (performance.now() - roundStarted);
        if (handled < batchSize && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    } catch (error) {
      log.warn({ err: error }, "outbox dispatch failed; retrying at the next poll");
    } finally {
      running = undefined;
    }
  }

  function wake(): void {
    if (!started) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    // Deferred: the request that woke the dispatcher answers first.
    running = new Promise<void>((resolve) => setImmediate(resolve)).then(loop);
  }

  return {
    runOnce,
    wake,
    start() {
      if (started) return;
      started = true;
      poll = setInterval(wake, pollIntervalMs).unref();
      wake();
    },
    async stop(waitMs = 2000) {
      started = false;
      clearInterval(poll);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    },
  };
}
