import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RateLimit, RateLimitRepository } from "../../src/domain/ports.js";
import { connectDatabase, type Database } from "../../src/persistence/database.js";
import { migrate } from "../../src/persistence/migrations.js";
import { rateLimitEventQueries } from "../../src/persistence/queries/rate-limit-events.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

// The check-and-count of OTP sends is one statement (the `rate_limit_hit` function): exact under concurrency, on
// connections of two pools as two gateway processes would hold them.
describe("rate limits (rate_limit_hit)", () => {
  let database: TestDatabase;
  let pools: Database[];
  let repositories: RateLimitRepository[];
  beforeAll(async () => {
    database = await createTestDatabase();
    await migrate(database.url);
    pools = [connectDatabase(database.url, 8), connectDatabase(database.url, 8)];
    repositories = pools.map((p) => rateLimitEventQueries(p.executor));
  });
  afterAll(async () => {
    for (const pool of pools) await pool.close();
    await database.close();
  });

  const events = async (key: string) =>
    (await pools[0]!.pool.query("SELECT id::text FROM rate_limit_events WHERE key = $1 ORDER BY id", [key])).rows.map(
      (r: { id: string }) => r.id,
    );

  it("lets exactly `max` of many concurrent sends through, and records only theirs", async () => {
    const at = new Date("2026-11-29T10:00:00Z");
    const limits: RateLimit[] = [
      { key: "target:email:many@example.com", max: 3, windowSeconds: 60 },
      { key: "ip:192.0.2.1", max: 100, windowSeconds: 3600 },
    ];
    const decisions = await Promise.all(Array.from({ length: 24 }, (_, i) => repositories[i % 2]!.hit(limits, at)));
    const allowed = decisions.filter((d) => d.allowed);
    expect(allowed).toHaveLength(3);
    for (const d of decisions.filter((d) => !d.allowed)) {
      expect(d).toEqual({ allowed: false, limit: limits[0], retryAfterSeconds: 60 });
    }
    // One event per key of each allowed send, and the ids it returned are those events.
    const recorded = allowed.flatMap((d) => (d.allowed ? d.eventIds : []));
    expect(recorded).toHaveLength(6);
    expect([...(await events(limits[0]!.key)), ...(await events(limits[1]!.key))].sort()).toEqual(recorded.sort());
  });

  it("answers the first limit reached, in the order given, with the seconds until its oldest event leaves", async () => {
    const start = new Date("2026-11-29T11:00:00Z");
    const limits: RateLimit[] = [
      { key: "target:sms:13800000000", max: 5, windowSeconds: 86_400 },
      { key: "client:app", max: 2, windowSeconds: 600 },
      { key: "ip:198.51.100.7", max: 2, windowSeconds: 3600 },
    ];
    expect((await repositories[0]!.hit(limits, start)).allowed).toBe(true);
    expect((await repositories[1]!.hit(limits, new Date(start.getTime() + 100_000))).allowed).toBe(true);
    // Both `client:app` and the address are full; the client comes first.
    expect(await repositories[0]!.hit(limits, new Date(start.getTime() + 200_000))).toEqual({
      allowed: false,
      limit: limits[1],
      retryAfterSeconds: 400,
    });
    // Once the client's window has passed the first send, the address is the limit reached.
    expect(await repositories[1]!.hit(limits, new Date(start.getTime() + 600_500))).toEqual({
      allowed: false,
      limit: limits[2],
      retryAfterSeconds: 3000,
    });
    expect(await events("client:app")).toHaveLength(2);
  });

  it("forgets the events of a send that did not happen", async () => {
    const limits: RateLimit[] = [{ key: "target:email:forget@example.com", max: 1, windowSeconds: 30 }];
    const at = new Date("2026-11-29T12:00:00Z");
    const first = await repositories[0]!.hit(limits, at);
    if (!first.allowed) throw new Error("the first send is allowed");
    expect((await repositories[0]!.hit(limits, at)).allowed).toBe(false);
    await repositories[1]!.forget(first.eventIds);
    expect((await repositories[1]!.hit(limits, at)).allowed).toBe(true);
  });
});
