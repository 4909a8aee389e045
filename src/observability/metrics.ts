import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { OutboxRepository, OutboxStream } from "../domain/events.js";
import type { Clock, OtpSender } from "../domain/ports.js";

/** The gateway's Prometheus metrics, in a registry of its own. */
export interface Metrics {
  readonly registry: Registry;
  /** Records one HTTP exchange. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  readonly otpSends: Counter<"channel">;
  readonly otpFailures: Counter<"channel">;
  /** Outbox deliveries (events and notices) that succeeded / failed, by stream. */
  readonly outboxDeliveries: Counter<"stream">;
  readonly outboxFailures: Counter<"stream">;
}

/** Creates the metrics, with Node's process metrics (CPU, memory, event loop lag, ...). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route and status.",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency by method, route and status.",
    labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // The series of each (method, route, status), found once: prom-client otherwise hashes the label object on every
  // call (twice per request). Few keys: node:http admits only known methods, routes are a fixed set or `other`.
  const series = new Map<string, { count: () => void; observe: (seconds: number) => void }>();
  return {
    registry,
    observeRequest(method, route, status, seconds) {
      const key = `${method} ${route} ${status}`;
      let found = series.get(key);
      if (found === undefined) {
        const labels = [method, route, String(status)] as const;
        const counter = requests.labels(...labels);
        const histogram = duration.labels(...labels);
        found = { count: () => counter.inc(), observe: (s) => histogram.observe(s) };
        series.set(key, found);
      }
      found.count();
      found.observe(seconds);
    },
    otpSends: new Counter({
      name: "otp_sends_total",
      help: "OTP codes delivered, by channel.",
      labelNames: ["channel"],
      registers: [registry],
    }),
    otpFailures: new Counter({
      name: "otp_send_failures_total",
      help: "OTP deliveries that failed, by channel.",
      labelNames: ["channel"],
      registers: [registry],
    }),
    outboxDeliveries: new Counter({
      name: "outbox_deliveries_total",
      help: "Change events and notices delivered, by stream (events, notices).",
      labelNames: ["stream"],
      registers: [registry],
    }),
    outboxFailures: new Counter({
      name: "outbox_delivery_failures_total",
      help: "Failed delivery attempts of change events and notices, by stream (events, notices).",
      labelNames: ["stream"],
      registers: [registry],
    }),
  };
}

/** Counts one outbox delivery attempt. */
export const observeOutbox = (metrics: Metrics) => (stream: OutboxStream, delivered: boolean) =>
  (delivered ? metrics.outboxDeliveries : metrics.outboxFailures).inc({ stream });

/**
 * The outbox backlog as gauges, read from the database when scraped (shared by every process): the pending count
 * and the age of the oldest pending entry.
 */
export function watchOutbox(metrics: Metrics, outbox: Pick<OutboxRepository, "backlog">, clock: Clock): void {
  let reading: Promise<{ pending: number; oldestCreatedAt: Date | null }> | undefined;
  // Both gauges are collected in one scrape: one query serves them.
  const backlog = () => {
    reading ??= outbox.backlog().finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  new Gauge({
    name: "outbox_pending_events",
    help: "Change events and notices waiting for delivery (all processes).",
    registers: [metrics.registry],
    async collect() {
      // A database that cannot answer keeps the last value: /metrics still answers.
      const read = await backlog().catch(() => undefined);
      if (read !== undefined) this.set(read.pending);
    },
  });
  new Gauge({
    name: "outbox_oldest_pending_age_seconds",
    help: "Age of the oldest change event or notice waiting for delivery; 0 when none waits.",
    registers: [metrics.registry],
    async collect() {
      const read = await backlog().catch(() => undefined);
      if (read === undefined) return;
      const oldest = read.oldestCreatedAt;
      this.set(oldest === null ? 0 : Math.max(0, (clock.now().getTime() - oldest.getTime()) / 1000));
    },
  });
}

/** Counts deliveries and their failures by channel. */
export function countedSender(sender: OtpSender, metrics: Metrics): OtpSender {
  return {
    async send(message) {
      try {
        await sender.send(message);
        metrics.otpSends.inc({ channel: message.channel });
      } catch (error) {
        metrics.otpFailures.inc({ channel: message.channel });
        throw error;
      }
    },
  };
}

/** The route label of a request path: one of the gateway's `routes`, or `other` (so that labels stay few). */
export function routeOf(url: string | undefined, routes: ReadonlySet<string>): string {
  const path = (url ?? "/").split("?")[0] ?? "/";
  return routes.has(path) ? path : "other";
}
