import { randomUUID } from "node:crypto";
import type { OtpChallenge as Challenge, OtpRepository } from "../../domain/ports.js";
import type { OtpChallenge } from "../../generated/prisma/client.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `otp_challenges`.

const CHALLENGE = Prisma.raw(`id, code_hash AS "codeHash", channel, target, usage, client_id AS "clientId",
  user_sub AS "userSub", requester, attempts, code_expires_at AS "codeExpiresAt", expires_at AS "expiresAt",
  consumed_at AS "consumedAt"`);

type ChallengeRow = Omit<OtpChallenge, "tokenHash" | "createdAt">;

/** The domain's {@link OtpRepository} on `db`. */
export function otpChallengeQueries(db: Executor): OtpRepository {
  return {
    async lockByTokenHash(tokenHash) {
      const [row] = await db.query<ChallengeRow>(
        Prisma.sql`SELECT ${CHALLENGE} FROM otp_challenges WHERE token_hash = ${tokenHash} FOR UPDATE`,
      );
      // Written only with the domain's channels.
      return row === undefined ? null : { ...row, channel: row.channel as Challenge["channel"] };
    },
    async recordWrongCode(id) {
      await db.query(Prisma.sql`UPDATE otp_challenges SET attempts = attempts + 1 WHERE id = ${id}::uuid`);
    },
    async issue(c, now) {
      // One statement: the new challenge and the retirement of the requester's earlier ones happen together.
      await db.query(Prisma.sql`
        WITH retired AS (
          UPDATE otp_challenges SET consumed_at = ${now}
          WHERE requester = ${c.requester} AND channel = ${c.channel} AND target = ${c.target}
            AND usage = ${c.usage} AND consumed_at IS NULL
        )
        INSERT INTO otp_challenges (id, token_hash, code_hash, channel, target, usage, client_id, user_sub, requester,
                                    code_expires_at, expires_at, created_at)
        VALUES (${randomUUID()}::uuid, ${c.tokenHash}, ${c.codeHash}, ${c.channel}, ${c.target}, ${c.usage},
                ${c.clientId}, ${c.userSub}, ${c.requester}, ${c.codeExpiresAt}, ${c.expiresAt}, ${now})`);
    },
    async purgeExpired(before) {
      const [row] = await db.query<{ count: number }>(Prisma.sql`
        WITH deleted AS (DELETE FROM otp_challenges WHERE expires_at < ${before} RETURNING 1)
        SELECT count(*)::int AS count FROM deleted`);
      return row?.count ?? 0;
    },
  };
}
