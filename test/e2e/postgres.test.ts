import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/database.js";
import { checkedFetch } from "../support/openapi.js";
import { cli, startGatewayProcess } from "../support/process.js";

// DATABASE_URL: the run's server (TEST_DATABASE_URL, or the embedded server the tests start).
describe("npm start on PostgreSQL", () => {
  it("migrates, serves, and shares the database with the CLI", async () => {
    const database = await createTestDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), "userinfo-pg-"));
    const env = { DATABASE_URL: database.url, DATA_DIR: dataDir };
    const gateway = await startGatewayProcess(env);
    try {
      expect(gateway.output()).toContain('"database":"postgresql"');
      expect((await cli(["users", "add", "dora", "--name", "Dora"], env)).code).toBe(0);
      const token = (await cli(["token", "dora"], env)).stdout.trim();
      const response = await checkedFetch(`${gateway.url}/userinfo`, {
        method: "PATCH",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ locale: "en_US" }),
      });
      expect(await response.json()).toMatchObject({ sub: "dora", name: "Dora", locale: "en-US" });
      expect(existsSync(join(dataDir, "pgdata"))).toBe(false);
    } finally {
      await gateway.stop();
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
