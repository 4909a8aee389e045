import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { printedSchema } from "../../src/graphql/schema.js";

describe("schema.graphql", () => {
  it("is the printed Pothos schema (run `npm run schema` after changing a type)", () => {
    const committed = readFileSync(resolve(import.meta.dirname, "../../schema.graphql"), "utf8");
    expect(committed).toBe(printedSchema());
  });
});
