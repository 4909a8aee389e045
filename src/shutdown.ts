import type { Logger } from "./logger.js";

/** How long whatever still hangs after `SHUTDOWN_TIMEOUT_MS` may take before the process exits with 1 (SPEC 6). */
export const SHUTDOWN_GRACE_MS = 5_000;

/**
 * A repeat within this time is the same signal delivered twice, not a second one: Ctrl-C in a terminal signals the
 * whole foreground process group, and `npm start` forwards the SIGINT it got to the gateway too.
 */
const DUPLICATE_SIGNAL_MS = 250;

/** Tells the shutdown what it is waiting for, for the log line when that hangs. */
export type ShutdownProgress = (waitingFor: string) => void;

/** The process's shutdown, armed by {@link exitOnSignals}. */
export interface Shutdown {
  /** Hands over the running gateway's close; when a signal came during the start, the close runs at once. */
  closeWith(close: (progress: ShutdownProgress) => Promise<void>): void;
}

/**
 * The shutdown contract of SPEC 6, for SIGTERM and SIGINT: the first signal runs the gateway's close (which withdraws
 * readiness, stops accepting connections and lets in-flight requests finish within `timeoutMs`), then exits 0;
 * whatever still hangs {@link SHUTDOWN_GRACE_MS} later ends the process with 1 and a log line naming it; a second
 * signal exits with 1 at once. Installed before the gateway starts, so that a signal during the start is not lost.
 */
export function exitOnSignals(log: Logger, timeoutMs: number): Shutdown {
  let close: ((progress: ShutdownProgress) => Promise<void>) | undefined;
  let signalledAt: number | undefined;
  let waitingFor = "the start to finish";
  const run = (stop: (progress: ShutdownProgress) => Promise<void>) => {
    stop((step) => (waitingFor = step)).then(
      () => {
        log.info("shutdown complete");
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error, waitingFor }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (signalledAt !== undefined) {
      if (now - signalledAt < DUPLICATE_SIGNAL_MS) return;
      log.error({ signal, waitingFor }, "second signal: exiting at once");
      process.exit(1);
    }
    signalledAt = now;
    log.info({ signal, timeoutMs }, "shutting down");
    // Not unref'd: it must fire even when a hung close leaves nothing else to keep the process alive.
    setTimeout(() => {
      log.error(
        { waitingFor, timeoutMs, graceMs: SHUTDOWN_GRACE_MS },
        `shutdown still waiting for ${waitingFor} ${timeoutMs + SHUTDOWN_GRACE_MS} ms after the signal: exiting with 1`,
      );
      process.exit(1);
    }, timeoutMs + SHUTDOWN_GRACE_MS);
    if (close !== undefined) run(close);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    closeWith(stop) {
      close = stop;
      if (signalledAt !== undefined) run(stop);
    },
  };
}
