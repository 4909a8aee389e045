// Writes schema.graphql from the Pothos schema (`npm run schema`); test/graphql/schema.test.ts fails when it is stale.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { printedSchema } from "../src/graphql/schema.js";

writeFileSync(resolve(import.meta.dirname, "../schema.graphql"), printedSchema());
