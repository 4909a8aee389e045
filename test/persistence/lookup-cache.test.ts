import { describe, expect, it } from "vitest";
import type { CustomAttributeDefinition } from "../../src/domain/attributes.js";
import type { ApplicationRecord, Store } from "../../src/domain/ports.js";
import { withLookupCache } from "../../src/persistence/lookup-cache.js";
import { testClock } from "../support/gateway.js";

/** A store whose lookups count their calls (the rest is never reached by these tests). */
function countingStore() {
  const calls = { list: 0, find: 0 };
  let definitions: CustomAttributeDefinition[] = [];
  const applications = new Map<string, ApplicationRecord>();
  const store = {
    customAttributes: {
      list: async () => {
        calls.list++;
        return definitions;
      },
      save: async (d: CustomAttributeDefinition) => {
        definitions = [...definitions, d];
      },
    },
    applications: {
      find: async (id: string) => {
        calls.find++;
        return applications.get(id) ?? null;
      },
      list: async () => [...applications.values()],
      save: async (a: ApplicationRecord) => void applications.set(a.clientId, a),
    },
  } as unknown as Store;
  return { store, calls, applications };
}

describe("lookup cache", () => {
  it("serves definitions and applications from memory until the TTL passes", async () => {
    const clock = testClock();
    const { store, calls, applications } = countingStore();
    const cached = withLookupCache(store, clock, 5_000);
    await cached.customAttributes.list();
    await cached.customAttributes.list();
    applications.set("web", { clientId: "web", secretHash: null, claims: ["name"] });
    expect(await cached.applications.find("web")).toMatchObject({ claims: ["name"] });
    applications.set("web", { clientId: "web", secretHash: null, claims: ["email"] });
    expect(await cached.applications.find("web")).toMatchObject({ claims: ["name"] });
    expect(calls).toEqual({ list: 1, find: 1 });
    clock.advance(5);
    expect(await cached.applications.find("web")).toMatchObject({ claims: ["email"] });
    await cached.customAttributes.list();
    expect(calls).toEqual({ list: 2, find: 2 });
  });

  it("remembers no unknown application, and reads definitions afresh on request", async () => {
    const { store, calls, applications } = countingStore();
    const cached = withLookupCache(store, testClock(), 60_000);
    expect(await cached.applications.find("late")).toBeNull();
    applications.set("late", { clientId: "late", secretHash: null, claims: [] });
    expect(await cached.applications.find("late")).toMatchObject({ clientId: "late" });
    await cached.customAttributes.list();
    await cached.customAttributes.list({ fresh: true });
    await cached.customAttributes.list();
    expect(calls).toEqual({ list: 2, find: 2 });
  });

  it("sees its own saves at once", async () => {
    const { store } = countingStore();
    const cached = withLookupCache(store, testClock(), 60_000);
    expect(await cached.customAttributes.list()).toEqual([]);
    await cached.customAttributes.save({ name: "team", type: "string", pattern: null, writable: true });
    expect(await cached.customAttributes.list()).toHaveLength(1);
    expect(await cached.applications.find("web")).toBeNull();
    await cached.applications.save({ clientId: "web", secretHash: null, claims: [] });
    expect(await cached.applications.find("web")).toMatchObject({ clientId: "web" });
  });

  it("is the store itself with a TTL of 0", () => {
    const { store } = countingStore();
    expect(withLookupCache(store, testClock(), 0)).toBe(store);
  });
});
