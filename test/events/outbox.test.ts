import pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { nextAttemptAt } from "../../src/domain/events.js";
import { createMetrics, type Metrics } from "../../src/observability/metrics.js";
import type { Prisma } from "../../src/persistence/database.js";
import { outboxQueries } from "../../src/persistence/queries/change-events.js";
import { userQueries } from "../../src/persistence/queries/users.js";
import { eventually } from "../support/child.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";
import { createTestGateway, jsonRequest, type TestGateway, testClock } from "../support/gateway.js";
import { EVENTS_SECRET, startEventsReceiver } from "../support/receivers.js";

// The transactional outbox (SPEC 5.4) against a real Standard Webhooks receiver: what a change writes, and how the
// dispatcher delivers it. The dispatcher's rounds are driven by the test (runOnce) on an injected clock.

let database: TestDatabase;
let receiver: Awaited<ReturnType<typeof startEventsReceiver>>;
let answer: () => number | "hang" = () => 204;
let gw: TestGateway;
let n = 0;
const fresh = (prefix = "ev") => `${prefix}-${++n}`;

beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await startEventsReceiver(() => answer());
  gw = await createTestGateway({
    database,
    env: { EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: EVENTS_SECRET, EVENTS_WEBHOOK_TIMEOUT_MS: "2000" },
  });
  await gw.store.customAttributes.save({ name: "team", type: "string", pattern: null, writable: true });
});
afterAll(async () => {
  await gw?.close();
  await receiver?.close();
  await database?.close();
});
beforeEach(async () => {
  answer = () => 204;
  // Every test starts with an empty outbox and an empty receiver.
  await drain(gw);
  receiver.received.length = 0;
  receiver.accepted.length = 0;
  await gw.prisma.outboxEvent.deleteMany({});
});

/** Runs dispatcher rounds until one handles nothing. */
async function drain(gateway: TestGateway): Promise<number> {
  let total = 0;
  for (let handled = await gateway.app.outbox.runOnce(); handled > 0; handled = await gateway.app.outbox.runOnce())
    total += handled;
  return total;
}

const patch = async (sub: string, body: unknown) => {
  const response = await gw.fetch("/userinfo", jsonRequest("PATCH", await gw.token(sub), body));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

const rows = (sub: string) => gw.prisma.outboxEvent.findMany({ where: { sub }, orderBy: { seq: "asc" } });

describe("what a change writes", () => {
  it("a REST PATCH writes one user.updated event with every stored attribute, delivered signed and verified", async () => {
    const sub = fresh();
    expect((await patch(sub, { name: "Ada", team: "core" })).status).toBe(200);
    const result = await patch(sub, { nickname: "ada", locale: "en_US" });
    expect(result.status).toBe(200);

    const written = await rows(sub);
    expect(written.map((r) => [r.stream, r.type, r.version, r.status])).toEqual([
      ["events", "user.updated", 1, "pending"],
      ["events", "user.updated", 2, "pending"],
    ]);
    expect(receiver.received).toHaveLength(0); // nothing is sent by the request itself

    expect(await drain(gw)).toBe(2);
    expect(receiver.accepted.map((e) => e.id)).toEqual(written.map((r) => r.id));
    const second = receiver.accepted[1]!;
    expect(second.body).toBe(
      JSON.stringify({
        type: "user.updated",
        timestamp: gw.clock.now().toISOString(),
        data: {
          sub,
          version: 2,
          changed: ["nickname", "locale"],
          attributes: { name: "Ada", team: "core", locale: "en-US", nickname: "ada" },
        },
      }),
    );
    expect(second.verified).toEqual(JSON.parse(second.body));
    expect(second.headers["content-type"]).toBe("application/json");
    expect(second.headers["webhook-id"]).toBe(written[1]!.id);
    expect(Number(second.timestamp)).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(second.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const after = await rows(sub);
    expect(after.map((r) => [r.status, r.attempts, r.deliveredAt?.getTime()])).toEqual([
      ["delivered", 1, gw.clock.now().getTime()],
      ["delivered", 1, gw.clock.now().getTime()],
    ]);
  });

  it("a GraphQL updateUserInfo writes the same event", async () => {
    const sub = fresh();
    const response = await gw.fetch("/graphql", {
      ...jsonRequest("POST", await gw.token(sub), {
        query: 'mutation { updateUserInfo(input: { nickname: "gq" }) { __typename } }',
      }),
    });
    expect(await response.json()).toEqual({ data: { updateUserInfo: { __typename: "UserInfo" } } });
    const [row] = await rows(sub);
    expect(row?.payload).toEqual({
      type: "user.updated",
      timestamp: gw.clock.now().toISOString(),
      data: { sub, version: 1, changed: ["nickname"], attributes: { nickname: "gq" } },
    });
  });

  it("a change of the email writes the event with the verified address; the first address notifies no one", async () => {
    const sub = fresh();
    const otp = await gw.otp("email", `${sub}@example.com`, { sub });
    const result = await patch(sub, { email: `${sub}@example.com`, email_otp_token: otp.token, email_otp: otp.code });
    expect(result.status).toBe(200);
    const written = await rows(sub);
    expect(written).toHaveLength(1);
    expect(written[0]?.payload).toMatchObject({
      data: { changed: ["email"], attributes: { email: `${sub}@example.com`, email_verified: true } },
    });
    expect(await gw.prisma.revertToken.count({ where: { sub } })).toBe(0);
  });

  it("a failed change writes nothing: invalid value, wrong code, a duplicate address (rolled back)", async () => {
    const sub = fresh();
    expect((await patch(sub, { zoneinfo: "Mars/Olympus" })).body).toEqual({ error: "illegal_parameter_value" });
    const otp = await gw.otp("email", "x@example.com", { sub });
    expect(
      (await patch(sub, { email: "x@example.com", email_otp_token: otp.token, email_otp: "000000" })).body,
    ).toEqual({ error: "bad_email_otp" });
    const holder = fresh();
    await gw.store.users.create({ sub: holder, email: "held@example.com", createdAt: gw.clock.now() });
    const taken = await gw.otp("email", "held@example.com", { sub });
    expect(
      (await patch(sub, { email: "held@example.com", email_otp_token: taken.token, email_otp: taken.code })).body,
    ).toEqual({ error: "duplicate_email" });
    expect(await rows(sub)).toEqual([]);
    // The operator's creation of the holder is a change, with its event.
    expect((await rows(holder)).map((r) => r.payload)).toEqual([
      {
        type: "user.updated",
        timestamp: gw.clock.now().toISOString(),
        data: {
          sub: holder,
          version: 1,
          changed: ["email"],
          attributes: { email: "held@example.com", email_verified: false },
        },
      },
    ]);
  });
});

describe("delivery", () => {
  it("retries with exponential backoff and jitter, with the same webhook-id, until a 2xx", async () => {
    const sub = fresh();
    answer = () => 500;
    await patch(sub, { nickname: "retry" });
    const [row] = await rows(sub);
    const start = gw.clock.now();

    await patch(sub, { nickname: "retry, later" });
    expect(await gw.app.outbox.runOnce()).toBe(1);
    let [after, follower] = await rows(sub);
    // Failing pushes the rows waiting behind it back to its own next attempt.
    expect(follower?.nextAttemptAt).toEqual(after?.nextAttemptAt);
    // First failure: ceiling 1 s, jitter 0.5 -> half of it plus half of the other half: 0.75 s.
    expect([after?.status, after?.attempts, (after?.nextAttemptAt.getTime() ?? 0) - start.getTime()]).toEqual([
      "pending",
      1,
      750,
    ]);
    expect(after?.lastError).toBe("events webhook answered 500");
    expect(await gw.app.outbox.runOnce()).toBe(0); // not due yet
    gw.clock.advance(0.75);
    expect(await gw.app.outbox.runOnce()).toBe(1);
    [after] = await rows(sub);
    expect([after?.attempts, (after?.nextAttemptAt.getTime() ?? 0) - gw.clock.now().getTime()]).toEqual([2, 1500]);

    answer = () => 200;
    gw.clock.advance(1.5);
    expect(await gw.app.outbox.runOnce()).toBe(1);
    expect(receiver.received.map((e) => e.id)).toEqual([row!.id, row!.id, row!.id]);
    expect(new Set(receiver.received.map((e) => e.body)).size).toBe(1);
    expect(receiver.accepted).toHaveLength(1);
    expect(await gw.app.outbox.runOnce()).toBe(1); // then the one behind it
    [after] = await rows(sub);
    expect([after?.status, after?.attempts, after?.lastError]).toEqual(["delivered", 3, null]);
  });

  it("the backoff doubles up to an hour, jittered between half and all of it, and ends after the retry window", () => {
    const now = new Date("2026-11-29T00:00:00Z");
    const until = new Date(now.getTime() + 24 * 3600_000);
    const delay = (attempts: number, random: number) =>
      (nextAttemptAt(attempts, now, until, random)?.getTime() ?? Number.NaN) - now.getTime();
    expect([1, 2, 3, 4, 13, 20].map((a) => delay(a, 0))).toEqual([500, 1000, 2000, 4000, 1_800_000, 1_800_000]);
    expect([1, 2, 3, 13].map((a) => delay(a, 1))).toEqual([1000, 2000, 4000, 3_600_000]);
    expect(nextAttemptAt(5, new Date(until.getTime() - 1000), until, 0)).toBeNull();
  });

  it("marks an entry dead after 24 h of failures; events redeliver brings it back", async () => {
    const sub = fresh();
    answer = () => 503;
    await patch(sub, { nickname: "dead" });
    const created = gw.clock.now();
    let rounds = 0;
    for (;;) {
      const [row] = await rows(sub);
      if (row?.status !== "pending") break;
      gw.clock.set(row.nextAttemptAt);
      expect(await gw.app.outbox.runOnce()).toBe(1);
      rounds++;
    }
    const [dead] = await rows(sub);
    expect(dead?.status).toBe("dead");
    expect(dead?.attempts).toBe(rounds);
    // 1+2+...+2048 s is ~1.1 h at most: then 1 h steps (jitter 0.5: 45 min each) fill the 24 h.
    expect(rounds).toBeGreaterThan(30);
    expect(gw.clock.now().getTime() - created.getTime()).toBeLessThanOrEqual(24 * 3600_000);
    expect(await gw.app.outbox.runOnce()).toBe(0);

    expect((await gw.store.outbox.list({ status: "dead", limit: 10 })).map((e) => e.id)).toEqual([dead!.id]);
    answer = () => 204;
    expect(await gw.store.outbox.redeliver(dead!.id, gw.clock.now())).toBe(true);
    expect(await gw.store.outbox.redeliver("00000000-0000-4000-8000-000000000000", gw.clock.now())).toBe(false);
    expect(await gw.app.outbox.runOnce()).toBe(1);
    const [delivered] = await rows(sub);
    expect(delivered?.status).toBe("delivered");
    expect(receiver.accepted.map((e) => e.id)).toEqual([dead!.id]);
  });

  it("keeps a user's order: a later event waits while an earlier one is retrying; other users go on", async () => {
    const [alice, bob] = [fresh(), fresh()];
    answer = () => 500;
    await patch(alice, { nickname: "a1" });
    expect(await gw.app.outbox.runOnce()).toBe(1); // a1 fails, retried in 0.75 s
    answer = () => 204;
    await patch(alice, { nickname: "a2" });
    await patch(bob, { nickname: "b1" });
    // a2 is not due before a1: the dispatcher's scan of due rows never meets it while a1 waits.
    const [a1, a2] = await rows(alice);
    expect(a2?.nextAttemptAt).toEqual(a1?.nextAttemptAt);
    expect(a1!.nextAttemptAt.getTime()).toBeGreaterThan(gw.clock.now().getTime());
    expect(await drain(gw)).toBe(1); // only b1: a2 waits behind a1
    expect(receiver.accepted.map((e) => (e.verified as { data: { sub: string } }).data.sub)).toEqual([bob]);
    gw.clock.advance(1);
    expect(await drain(gw)).toBe(2);
    const versions = receiver.accepted
      .map((e) => (e.verified as { data: { sub: string; version: number } }).data)
      .filter((d) => d.sub === alice)
      .map((d) => d.version);
    expect(versions).toEqual([1, 2]);
  });

  it("a claim held by a dispatcher that died is taken over when its lease ends", async () => {
    const sub = fresh();
    await patch(sub, { nickname: "lease" });
    // Another dispatcher claims it and never reports back.
    const claimed = await gw.store.outbox.claim({ now: gw.clock.now(), limit: 10, leaseMs: 60_000 });
    expect(claimed.map((c) => c.sub)).toEqual([sub]);
    expect(await gw.app.outbox.runOnce()).toBe(0);
    gw.clock.advance(61);
    expect(await gw.app.outbox.runOnce()).toBe(1);
    expect(receiver.accepted).toHaveLength(1);
  });

  it("two dispatchers on one database deliver every event once, each user's in order", async () => {
    const other = await createTestGateway({
      database,
      clock: gw.clock,
      env: { EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: EVENTS_SECRET },
    });
    try {
      const users = Array.from({ length: 8 }, () => fresh("race"));
      for (let round = 0; round < 5; round++) {
        await Promise.all(users.map((sub) => patch(sub, { nickname: `n${round}` })));
      }
      const written = await gw.prisma.outboxEvent.count({ where: { sub: { in: users } } });
      expect(written).toBe(40);
      // Both dispatch at the same time, round after round, until neither finds anything.
      const pending = () => gw.prisma.outboxEvent.count({ where: { status: "pending" } });
      const run = async (gateway: TestGateway) => {
        let total = 0;
        while ((await pending()) > 0) total += await gateway.app.outbox.runOnce();
        return total;
      };
      const [a, b] = await Promise.all([run(gw), run(other)]);
      expect(a + b).toBe(40);
      const ids = receiver.accepted.map((e) => e.id);
      expect(new Set(ids).size).toBe(40);
      expect(ids).toHaveLength(40);
      for (const sub of users) {
        const versions = receiver.accepted
          .map((e) => (e.verified as { data: { sub: string; version: number } }).data)
          .filter((d) => d.sub === sub)
          .map((d) => d.version);
        expect(versions).toEqual([1, 2, 3, 4, 5]);
      }
    } finally {
      await other.close();
    }
  });
});

describe("the claim's cost", () => {
  it("reads as far as the heads of the backlog it claims, never the delivered rows before it", async () => {
    // A day of changes: 20,000 rows delivered since the last vacuum (their pending versions still in the pending
    // indexes), then a backlog of 2,000 (500 users, 4 each, interleaved), all due; the claim takes the first 64 heads
    // in seq order. The statistics were taken when the backlog was small or empty (as autovacuum's often are: a
    // backlog grows within seconds), which is when a planner that trusts them picks the plans that do not scale with it.
    const now = gw.clock.now();
    const insert = (from: number, to: number) =>
      gw.prisma.$executeRawUnsafe(
        `INSERT INTO outbox_events (stream, type, sub, version, payload, status, next_attempt_at, retry_until,
                                    created_at)
         SELECT 'events', 'user.updated', 'bulk-' || (g % 500), g, '{}', 'pending',
                $1::timestamptz, $1::timestamptz + interval '1 day', $1::timestamptz
         FROM generate_series(${from}, ${to}) g`,
        now.toISOString(),
      );
    const backlog = async (statistics: "before the backlog" | "with nothing pending" | "of the backlog") => {
      await gw.prisma.outboxEvent.deleteMany({ where: { sub: { startsWith: "bulk-" } } });
      await insert(1, 20_020);
      // Before the backlog: 20 of the rows still pending; with nothing pending: none.
      await gw.prisma.$executeRawUnsafe(
        `UPDATE outbox_events SET status = 'delivered', delivered_at = now()
         WHERE sub LIKE 'bulk-%' AND version <= ${statistics === "with nothing pending" ? 20_020 : 20_000}`,
      );
      if (statistics !== "of the backlog") await gw.prisma.$executeRawUnsafe("ANALYZE outbox_events");
      await insert(20_021, 22_000);
      if (statistics === "of the backlog") await gw.prisma.$executeRawUnsafe("ANALYZE outbox_events");
    };
    // The claim's own statement, as the dispatcher sends it.
    let claim: Prisma.Sql | undefined;
    await outboxQueries({
      query: async (sql) => {
        claim = sql;
        return [];
      },
    }).claim({ now, limit: 64, leaseMs: 60_000 });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      // As a connection runs it after a few executions (a generic plan: parameters unknown to the planner), and as it
      // plans it with the values at hand (a custom plan); each planned and run by PostgreSQL, then rolled back.
      await client.query(`PREPARE claim AS ${claim!.text}`);
      // EXECUTE takes no parameters of its own: the values as literals.
      const values = claim!.values.map((value) =>
        typeof value === "number"
          ? String(value)
          : client.escapeLiteral(value instanceof Date ? value.toISOString() : String(value)),
      );
      // A generic plan is made once per connection, whatever the statistics were then: it must hold up with the
      // statistics of a small backlog, and of none (then every index that can tell pending rows looks as cheap: the
      // probe must have only outbox_events_probe_idx to read, the walk only outbox_events_claim_idx). A custom plan is
      // made for each execution from the current statistics.
      // (With statistics taken before a large backlog, a custom plan reads the whole backlog - sorted, each row
      // probed - rather than walking it in seq order: bounded by the backlog, not by the delivered rows.)
      for (const [mode, statistics] of [
        ["force_generic_plan", "before the backlog"],
        ["force_generic_plan", "with nothing pending"],
        ["force_custom_plan", "of the backlog"],
      ] as const) {
        await backlog(statistics);
        await client.query(`SET plan_cache_mode = ${mode}`);
        await client.query("BEGIN");
        const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE claim(${values.join(", ")})`,
        );
        await client.query("ROLLBACK");
        const plan = rows[0]!["QUERY PLAN"][0].Plan;
        expect(plan["Actual Rows"], `${mode}, statistics ${statistics}`).toBe(64);
        // The rows every node of the plan handled (returned, or filtered out), over all its loops.
        const handled = (node: PlanNode): number =>
          (node["Actual Rows"] + (node["Rows Removed by Filter"] ?? 0) + (node["Rows Removed by Join Filter"] ?? 0)) *
            node["Actual Loops"] +
          (node.Plans ?? []).reduce((sum, child) => sum + handled(child), 0);
        // The 64 heads, a probe of each one's stream and the claim's update of them: neither the 20,000 delivered
        // rows nor the whole backlog, let alone the backlog once per head; and the pages it read: not the delivered
        // rows' entries once per head.
        expect(handled(plan), `${mode}, statistics ${statistics}`).toBeLessThanOrEqual(HANDLED_AT_MOST);
        expect(
          plan["Shared Hit Blocks"] + plan["Shared Read Blocks"],
          `${mode}, statistics ${statistics}`,
        ).toBeLessThanOrEqual(PAGES_AT_MOST);
      }
    } finally {
      await client.end();
      await gw.prisma.outboxEvent.deleteMany({ where: { sub: { startsWith: "bulk-" } } });
    }
  });
});

// Measured on PostgreSQL 15 and 18: 448 rows and 4,141-5,849 pages (the first walk past the delivered rows' entries,
// which it marks dead for the next). The claims before: without the pending index in seq order, 8,960-11,948 rows
// (generic) and 20,512 rows in 87,589 pages (custom: the seq index walked past every delivered row); with it but the
// check as an anti-join, 258,512 rows (generic: the backlog rescanned per head); as min(seq), 27,724 pages; as the
// probe it is, with statistics taken while nothing was pending, 2,496 rows in 13,465 pages (the probe read the claim's
// index: every pending row before the candidate) - and with only that index's predicate changed, 127,168 rows (the probe
// then read the one on (status, created_at)).
const HANDLED_AT_MOST = 1000;
const PAGES_AT_MOST = 10_000;

describe("a write's look at its user's pending rows", () => {
  it("reads that user's entries only, whatever the statistics", async () => {
    // A write gives its event a due time no earlier than the user's last pending row (dueAfterPending): a probe of
    // the pending rows of one user, in the statement of every change. 20,000 rows of 500 users delivered since the
    // last vacuum and statistics taken with nothing pending; the generic plan of a nickname change, as a connection
    // settles on it, must read outbox_events_probe_idx for that user, not every pending row's entry (the
    // delivered rows' among them until a vacuum), once per write.
    const now = gw.clock.now();
    await gw.prisma.$executeRawUnsafe(
      `INSERT INTO outbox_events (stream, type, sub, version, payload, status, next_attempt_at, retry_until,
                                  created_at, delivered_at)
       SELECT 'events', 'user.updated', 'probe-' || (g % 500), g, '{}', 'pending', $1::timestamptz,
              $1::timestamptz + interval '1 day', $1::timestamptz, NULL
       FROM generate_series(1, 20000) g`,
      now.toISOString(),
    );
    await gw.prisma.$executeRawUnsafe(`UPDATE outbox_events SET status = 'delivered' WHERE sub LIKE 'probe-%'`);
    await gw.prisma.$executeRawUnsafe("ANALYZE outbox_events");
    await gw.store.users.create({ sub: "probe-1", createdAt: now });
    let write: Prisma.Sql | undefined;
    await userQueries({
      query: async (sql) => {
        write = sql;
        return [];
      },
    }).write(
      "probe-1",
      { profile: { nickname: "probe" }, customSet: {}, customUnset: [], updatedAt: now },
      {
        createIfMissing: true,
        audit: { clientId: "probe", attributes: ["nickname"], changes: { nickname: "probe" } },
        outbox: { changed: ["nickname"], notices: [] },
      },
    );
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(`PREPARE write AS ${write!.text}`);
      const values = write!.values.map((value) =>
        Array.isArray(value)
          ? `ARRAY[${value.map((v) => client.escapeLiteral(String(v))).join(", ")}]::text[]`
          : client.escapeLiteral(value instanceof Date ? value.toISOString() : String(value)),
      );
      await client.query("SET plan_cache_mode = force_generic_plan");
      await client.query("BEGIN");
      const { rows: explained } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE write(${values.join(", ")})`,
      );
      await client.query("ROLLBACK");
      const plan = explained[0]!["QUERY PLAN"][0].Plan;
      const indexes = (node: PlanNode): string[] => [
        ...(node["Index Name"] === undefined ? [] : [node["Index Name"]]),
        ...(node.Plans ?? []).flatMap(indexes),
      ];
      // The outbox index it reads: that of the pending rows by user, no other (before migration 20261129050000, with
      // these statistics, it read the claim's index of every pending row in seq order).
      expect(indexes(plan).filter((name) => name.startsWith("outbox_events"))).toEqual(["outbox_events_probe_idx"]);
    } finally {
      await client.end();
      await gw.prisma.outboxEvent.deleteMany({ where: { sub: { startsWith: "probe-" } } });
    }
  });
});

/** What `EXPLAIN (ANALYZE, FORMAT JSON)` says of one node of a plan. */
interface PlanNode {
  readonly "Index Name"?: string;
  readonly "Actual Rows": number;
  readonly "Actual Loops": number;
  readonly "Rows Removed by Filter"?: number;
  readonly "Rows Removed by Join Filter"?: number;
  readonly "Shared Hit Blocks": number;
  readonly "Shared Read Blocks": number;
  readonly Plans?: readonly PlanNode[];
}

describe("retention", () => {
  it("purges delivered entries and expired revert links, and erases the token of an expired dead notice", async () => {
    const sub = fresh();
    await gw.store.users.create({ sub, email: `${sub}@example.com`, createdAt: gw.clock.now() });
    const otp = await gw.otp("email", `${sub}.new@example.com`, { sub });
    const body = { email: `${sub}.new@example.com`, email_otp_token: otp.token, email_otp: otp.code };
    expect((await patch(sub, body)).status).toBe(200);
    await drain(gw);
    const notice = await gw.prisma.outboxEvent.findFirstOrThrow({ where: { sub, stream: "notices" } });
    // As if it had failed for a day, its token kept for a redelivery.
    await gw.prisma.outboxEvent.update({ where: { id: notice.id }, data: { status: "dead", secret: "kept" } });
    expect(await gw.store.outbox.purge(gw.clock.now())).toBe(0);
    expect(await gw.prisma.outboxEvent.count({ where: { sub } })).toBe(3);

    const later = new Date(gw.clock.now().getTime() + 8 * 24 * 3600_000);
    expect(await gw.store.outbox.purge(later)).toBe(3); // two delivered events, one expired revert link
    const left = await gw.prisma.outboxEvent.findMany({ where: { sub } });
    expect(left.map((r) => [r.id, r.status, r.secret])).toEqual([[notice.id, "dead", null]]);
    expect(await gw.prisma.revertToken.count({ where: { sub } })).toBe(0);
    expect(await gw.store.outbox.redeliver(notice.id, gw.clock.now())).toBe(false);
  });
});

describe("background delivery", () => {
  it("a request never waits for the receiver: the commit wakes the dispatcher, which posts afterwards", async () => {
    const sub = fresh();
    answer = () => "hang"; // the receiver takes the POST and never answers (the 2 s timeout ends it)
    gw.app.outbox.start();
    try {
      expect((await patch(sub, { nickname: "background" })).status).toBe(200);
      await eventually(() => receiver.received.length === 1);
      // The answer came while the delivery still hangs: the row is claimed, not yet settled.
      const [row] = await rows(sub);
      expect([row?.status, row?.attempts, row?.leasedUntil === null]).toEqual(["pending", 0, false]);
    } finally {
      await gw.app.outbox.stop(5000); // the round in progress ends with the 2 s timeout
    }
    const [after] = await rows(sub);
    expect([after?.status, after?.attempts, after?.lastError]).toEqual([
      "pending",
      1,
      "events webhook unreachable: TimeoutError",
    ]);
  });
});

describe("metrics", () => {
  it("pending count, age of the oldest pending entry, delivery failures", async () => {
    const metrics: Metrics = createMetrics();
    const clock = testClock(gw.clock.now());
    const mgw = await createTestGateway({
      database,
      clock,
      metrics,
      env: { EVENTS_WEBHOOK_URL: receiver.url, EVENTS_WEBHOOK_SECRET: EVENTS_SECRET },
    });
    try {
      const value = async (name: string) => {
        const text = await metrics.registry.metrics();
        return text
          .split("\n")
          .find((line) => line.startsWith(name))
          ?.split(" ")[1];
      };
      expect(await value("outbox_pending_events")).toBe("0");
      expect(await value("outbox_oldest_pending_age_seconds")).toBe("0");
      answer = () => 500;
      const response = await mgw.fetch("/userinfo", jsonRequest("PATCH", await mgw.token(fresh()), { name: "M" }));
      expect(response.status).toBe(200);
      clock.advance(42);
      expect(await value("outbox_pending_events")).toBe("1");
      expect(await value("outbox_oldest_pending_age_seconds")).toBe("42");
      expect(await mgw.app.outbox.runOnce()).toBe(1);
      expect(await value('outbox_delivery_failures_total{stream="events"}')).toBe("1");
      answer = () => 204;
      clock.advance(1);
      expect(await mgw.app.outbox.runOnce()).toBe(1);
      expect(await value('outbox_deliveries_total{stream="events"}')).toBe("1");
      expect(await value("outbox_pending_events")).toBe("0");
    } finally {
      await mgw.close();
    }
  });
});
