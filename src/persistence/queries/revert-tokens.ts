import type { RevertTokenRecord, RevertTokenRepository } from "../../domain/revert.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `revert_tokens` (rows are inserted by the change that replaces an identifier: change-events.ts).

const TOKEN = Prisma.raw(`sub, attribute, previous_value AS "previousValue", new_value_masked AS "newValueMasked",
  expires_at AS "expiresAt", used_at AS "usedAt", created_at AS "createdAt"`);

/** The domain's {@link RevertTokenRepository} on `db`. */
export function revertTokenQueries(db: Executor): RevertTokenRepository {
  const one = async (sql: Prisma.Sql) => (await db.query<RevertTokenRecord>(sql))[0] ?? null;
  return {
    find: (tokenHash) => one(Prisma.sql`SELECT ${TOKEN} FROM revert_tokens WHERE token_hash = ${tokenHash}`),
    lock: (tokenHash) => one(Prisma.sql`SELECT ${TOKEN} FROM revert_tokens WHERE token_hash = ${tokenHash} FOR UPDATE`),
    async use(tokenHash, record, now) {
      await db.query(Prisma.sql`
        UPDATE revert_tokens SET used_at = ${now}
        WHERE used_at IS NULL AND (token_hash = ${tokenHash}
          OR (sub = ${record.sub} AND attribute = ${record.attribute} AND created_at >= ${record.createdAt}))`);
    },
  };
}
