import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectDatabase, type Database, Prisma, preparedStatements } from "../../src/persistence/database.js";
import { createTestDatabase, type TestDatabase } from "../support/database.js";

describe("preparedStatements", () => {
  it("names each text once, the same name every time, and none beyond the limit", () => {
    const prepared = preparedStatements(2);
    const a = prepared(Prisma.sql`SELECT ${1}::int AS n`);
    const b = prepared(Prisma.sql`SELECT ${2}::int + 1 AS n`);
    expect(a).toEqual({ name: "userinfo_0", text: "SELECT $1::int AS n", values: [1] });
    expect(b).toEqual({ name: "userinfo_1", text: "SELECT $1::int + 1 AS n", values: [2] });
    // The same text with other values: the same statement.
    expect(prepared(Prisma.sql`SELECT ${7}::int AS n`)).toEqual({ ...a, values: [7] });
    // A third text: unnamed (parsed and planned each time, as every statement was before).
    expect(prepared(Prisma.sql`SELECT ${3}::int * 2 AS n`)).toEqual({ text: "SELECT $1::int * 2 AS n", values: [3] });
    expect(prepared(Prisma.sql`SELECT ${2}::int + 1 AS n`).name).toBe("userinfo_1");
  });
});

describe("statements on the database", () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    // One connection: what it has prepared is what every statement below ran on.
    db = connectDatabase(database.url, 1);
    await db.pool.query("CREATE TABLE things (id int PRIMARY KEY, label text)");
  });
  afterAll(async () => {
    await db.close();
    await database.close();
  });

  const preparedTexts = async () =>
    (
      await db.executor.query<{ statement: string }>(
        Prisma.sql`SELECT statement FROM pg_prepared_statements WHERE name LIKE 'userinfo_%' ORDER BY statement`,
      )
    ).map((r) => r.statement);

  it("runs each statement prepared once per connection, in and out of transactions", async () => {
    const insert = (id: number) => Prisma.sql`INSERT INTO things (id, label) VALUES (${id}, ${`thing ${id}`})`;
    for (const id of [1, 2, 3]) await db.executor.query(insert(id));
    await db.transaction(async (tx) => {
      await tx.query(insert(4));
      expect(await tx.query(Prisma.sql`SELECT id, label FROM things WHERE id = ${4}`)).toEqual([
        { id: 4, label: "thing 4" },
      ]);
    });
    const texts = await preparedTexts();
    expect(texts).toContain("INSERT INTO things (id, label) VALUES ($1, $2)");
    expect(texts).toContain("SELECT id, label FROM things WHERE id = $1");
    expect(texts.filter((t) => t.startsWith("INSERT"))).toHaveLength(1);
    expect((await db.pool.query("SELECT count(*)::int AS n FROM things")).rows[0].n).toBe(4);
  });

  it("keeps serving a prepared statement after a migration adds a column to its table", async () => {
    const select = (id: number) => Prisma.sql`SELECT id, label FROM things WHERE id = ${id}`;
    for (let i = 0; i < 6; i++) await db.executor.query(select(1));
    // A rolling upgrade: another process migrates while this one serves (the statements name their columns).
    await db.pool.query("ALTER TABLE things ADD COLUMN added text");
    expect(await db.executor.query(select(2))).toEqual([{ id: 2, label: "thing 2" }]);
  });

  it("rolls a failed transaction back: nothing of it stays, and the connection serves on", async () => {
    const failed = db.transaction(async (tx) => {
      await tx.query(Prisma.sql`INSERT INTO things (id, label) VALUES (${10}, ${"ten"})`);
      await tx.query(Prisma.sql`INSERT INTO things (id, label) VALUES (${1}, ${"a duplicate"})`);
    });
    await expect(failed).rejects.toMatchObject({ code: "23505" });
    expect(await db.executor.query(Prisma.sql`SELECT id FROM things WHERE id = ${10}`)).toEqual([]);
    expect(await db.executor.query(Prisma.sql`SELECT id, label FROM things WHERE id = ${1}`)).toEqual([
      { id: 1, label: "thing 1" },
    ]);
  });
});
