import type { ApplicationRecord, ApplicationRepository } from "../../domain/ports.js";
import type { Application } from "../../generated/prisma/client.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `applications`.

const APPLICATION = Prisma.raw(`client_id AS "clientId", secret_hash AS "secretHash", claims`);

const recordOf = (row: Pick<Application, "clientId" | "secretHash" | "claims">): ApplicationRecord => ({
  clientId: row.clientId,
  secretHash: row.secretHash,
  claims: row.claims ?? [],
});

/** The domain's {@link ApplicationRepository} on `db`. */
export function applicationQueries(db: Executor): ApplicationRepository {
  return {
    async find(clientId) {
      const [row] = await db.query<Application>(
        Prisma.sql`SELECT ${APPLICATION} FROM applications WHERE client_id = ${clientId}`,
      );
      return row === undefined ? null : recordOf(row);
    },
    async list() {
      return (await db.query<Application>(Prisma.sql`SELECT ${APPLICATION} FROM applications ORDER BY client_id`)).map(
        recordOf,
      );
    },
    async save({ clientId, secretHash, claims }) {
      await db.query(Prisma.sql`
        INSERT INTO applications (client_id, secret_hash, claims) VALUES (${clientId}, ${secretHash}, ${[...claims]}::text[])
        ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, claims = EXCLUDED.claims`);
    },
  };
}
