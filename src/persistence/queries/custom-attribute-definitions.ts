import type { CustomAttributeDefinition } from "../../domain/attributes.js";
import type { CustomAttributeRepository } from "../../domain/ports.js";
import type { CustomAttributeDefinition as DefinitionRow } from "../../generated/prisma/client.js";
import { type Executor, Prisma } from "../database.js";

// Statements on `custom_attribute_definitions`.

/** The domain's {@link CustomAttributeRepository} on `db`. */
export function customAttributeDefinitionQueries(db: Executor): CustomAttributeRepository {
  return {
    async list() {
      const rows = await db.query<Omit<DefinitionRow, "createdAt">>(
        Prisma.sql`SELECT name, type, pattern, writable FROM custom_attribute_definitions ORDER BY name`,
      );
      // Written only with the domain's types (the CLI validates them).
      return rows.map((row) => ({ ...row, type: row.type as CustomAttributeDefinition["type"] }));
    },
    async save({ name, type, pattern, writable }) {
      await db.query(Prisma.sql`
        INSERT INTO custom_attribute_definitions (name, type, pattern, writable) VALUES (${name}, ${type}, ${pattern}, ${writable})
        ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, pattern = EXCLUDED.pattern, writable = EXCLUDED.writable`);
    },
  };
}
