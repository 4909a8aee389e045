import type { CustomValue } from "../../domain/attributes.js";
import type { UserChanges, UserRecord, UserRepository } from "../../domain/ports.js";
import type { User } from "../../generated/prisma/client.js";
import { type Executor, Prisma } from "../database.js";
import { outboxStatements } from "./change-events.js";

// Statements on `users` (and the `audit_events` and `outbox_events` rows each change writes with it).

/** The columns of `users` under the names of Prisma's `User` model, so that rows have its generated type. */
const USER = Prisma.raw(`sub, email, email_verified AS "emailVerified", phone_number AS "phoneNumber",
  phone_number_verified AS "phoneNumberVerified", name, nickname, zoneinfo, locale,
  custom_attributes AS "customAttributes", version, created_at AS "createdAt", updated_at AS "updatedAt"`);

const recordOf = (row: User): UserRecord => ({
  ...row,
  // Written only from validated custom attribute values.
  customAttributes: row.customAttributes as Record<string, CustomValue>,
});

const PROFILE_COLUMNS = { name: "name", nickname: "nickname", zoneinfo: "zoneinfo", locale: "locale" } as const;

/** Columns set by an update, as `[column, value]`. Column names come from constants only; values are bound. */
function assignments(changes: UserChanges): [string, Prisma.Sql][] {
  const set: [string, Prisma.Sql][] = [];
  for (const [attribute, column] of Object.entries(PROFILE_COLUMNS)) {
    const value = changes.profile[attribute as keyof typeof PROFILE_COLUMNS];
    if (value !== undefined) set.push([column, Prisma.sql`${value}`]);
  }
  if (changes.email !== undefined) {
    set.push(["email", Prisma.sql`${changes.email}`], ["email_verified", Prisma.sql`true`]);
  }
  if (changes.phoneNumber !== undefined) {
    set.push(["phone_number", Prisma.sql`${changes.phoneNumber}`], ["phone_number_verified", Prisma.sql`true`]);
  }
  return set;
}

/** The domain's {@link UserRepository} on `db`. */
export function userQueries(db: Executor): UserRepository {
  const one = async (sql: Prisma.Sql) => {
    const [row] = await db.query<User>(sql);
    return row === undefined ? null : recordOf(row);
  };
  return {
    find: (sub) => one(Prisma.sql`SELECT ${USER} FROM users WHERE sub = ${sub}`),
    async provision(sub, now) {
      // An upsert that changes nothing still returns the row, in one round trip.
      return (await one(Prisma.sql`
        INSERT INTO users (sub, created_at, updated_at) VALUES (${sub}, ${now}, ${now})
        ON CONFLICT (sub) DO UPDATE SET sub = EXCLUDED.sub
        RETURNING ${USER}`))!;
    },
    async create(user) {
      // A new profile is a change too: its event lists the attributes it was created with.
      const changed = (["email", "phone_number", "name"] as const).filter(
        (a) => user[a === "phone_number" ? "phoneNumber" : a] !== undefined,
      );
      const published = outboxStatements(user.sub, { updatedAt: user.createdAt }, { changed, notices: [] });
      return (await one(Prisma.sql`
        WITH written AS (
          INSERT INTO users (sub, email, phone_number, name, created_at, updated_at)
          VALUES (${user.sub}, ${user.email ?? null}, ${user.phoneNumber ?? null}, ${user.name ?? null},
                  ${user.createdAt}, ${user.createdAt})
          RETURNING users.*
        )${published.after}
        SELECT ${USER} FROM written`))!;
    },
    async write(sub, changes, { createIfMissing, audit, expectedVersions, outbox }) {
      const set = assignments(changes);
      // The outbox rows: the event, and - for a replaced email / phone number - the notice and its revert token.
      const published = outboxStatements(sub, changes, outbox);
      const custom = Prisma.sql`(users.custom_attributes || ${JSON.stringify(changes.customSet)}::jsonb) - ${[...changes.customUnset]}::text[]`;
      const updates = Prisma.join(
        [
          ...set.map(([column, value]) => Prisma.sql`${Prisma.raw(`"${column}"`)} = ${value}`),
          Prisma.sql`custom_attributes = ${custom}`,
          Prisma.sql`version = users.version + 1`,
          Prisma.sql`updated_at = ${changes.updatedAt}`,
        ],
        ", ",
      );
      // If-Match, atomically: a concurrent write of the row makes this one wait, then see the new version.
      const versionCheck =
        expectedVersions === undefined
          ? Prisma.empty
          : Prisma.sql` AND users.version = ANY(${[...expectedVersions]}::int[])`;
      let write: Prisma.Sql;
      if (createIfMissing) {
        // Insert-or-update: the conflict branch applies the same assignments to the stored row.
        const columns =
          set.length === 0
            ? Prisma.empty
            : Prisma.join(
                set.map(([c]) => Prisma.raw(`"${c}"`)),
                ", ",
                ", ",
              );
        const values =
          set.length === 0
            ? Prisma.empty
            : Prisma.join(
                set.map(([, value]) => value),
                ", ",
                ", ",
              );
        write = Prisma.sql`
          INSERT INTO users (sub${columns}, custom_attributes, created_at, updated_at)
          SELECT ${sub}${values}, ${JSON.stringify(changes.customSet)}::jsonb, ${changes.updatedAt}, ${changes.updatedAt}
          ${published.readsPrevious ? Prisma.sql`FROM (SELECT 1) AS one LEFT JOIN previous ON true` : Prisma.empty}
          ON CONFLICT (sub) DO UPDATE SET ${updates} WHERE true${versionCheck}
          RETURNING users.*`;
      } else {
        write = Prisma.sql`UPDATE users SET ${updates}
          ${published.readsPrevious ? Prisma.sql`FROM previous` : Prisma.empty}
          WHERE users.sub = ${sub}${versionCheck} RETURNING users.*`;
      }
      // The audit record is written by the same statement: no change without its record, no record without change.
      return one(Prisma.sql`
        WITH ${published.before}written AS (${write}),
        audited AS (
          INSERT INTO audit_events (sub, client_id, attributes, changes, created_at)
          SELECT sub, ${audit.clientId}, ${[...audit.attributes]}::text[], ${JSON.stringify(audit.changes)}::jsonb, ${changes.updatedAt}
          FROM written
        )${published.after}
        SELECT ${USER} FROM written`);
    },
    async lockVersion(sub) {
      const [row] = await db.query<{ version: number }>(
        Prisma.sql`SELECT version FROM users WHERE sub = ${sub} FOR UPDATE`,
      );
      return row?.version ?? null;
    },
    async holderOf(attribute, value) {
      const [row] = await db.query<{ sub: string }>(
        attribute === "email"
          ? Prisma.sql`SELECT sub FROM users WHERE lower(email) = lower(${value})`
          : Prisma.sql`SELECT sub FROM users WHERE phone_number = ${value}`,
      );
      return row?.sub ?? null;
    },
  };
}
