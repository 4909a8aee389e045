import { describe, expect, it } from "vitest";
import { batched } from "../../src/persistence/batch.js";

describe("batched", () => {
  it("runs the calls of one turn together, answering each in order, and later calls in a batch of their own", async () => {
    const batches: number[][] = [];
    const double = batched(async (items: readonly number[]) => {
      batches.push([...items]);
      return items.map((i) => i * 2);
    });
    expect(await Promise.all([double(1), double(2), double(3)])).toEqual([2, 4, 6]);
    expect(await double(4)).toBe(8);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it("rejects every call of a failed batch, and the next batch runs again", async () => {
    let fail = true;
    const run = batched(async (items: readonly string[]) => {
      if (fail) throw new Error("down");
      return items.map((s) => s.toUpperCase());
    });
    const results = await Promise.allSettled([run("a"), run("b")]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await run("c")).toBe("C");
  });
});
