import { describe, expect, it } from "vitest";
import { createTokenCache } from "../../src/auth/token-cache.js";

const alice = { sub: "alice", clientId: "web", scopes: ["openid"], authTime: undefined };
const bob = { sub: "bob", clientId: null, scopes: ["openid", "profile"], authTime: 1_000 };

describe("verified token cache", () => {
  it("returns a remembered principal between nbf and exp only", () => {
    const cache = createTokenCache(10, 10_000_000);
    cache.set("t1", alice, 1_000_000, 2_000, 1_500);
    expect(cache.get("t1", 1_400_000)).toBeUndefined();
    expect(cache.get("t1", 1_500_000)).toEqual(alice);
    expect(cache.get("t1", 1_999_999)).toEqual(alice);
    expect(cache.get("t1", 2_000_000)).toBeUndefined();
    expect(cache.get("other", 1_600_000)).toBeUndefined();
  });

  it("forgets a token after its own maximum age, whatever exp says", () => {
    const cache = createTokenCache(10, 60_000);
    cache.set("t1", alice, 0, 10_000, undefined);
    expect(cache.get("t1", 59_999)).toEqual(alice);
    expect(cache.get("t1", 60_000)).toBeUndefined();
  });

  it("evicts the least recently used token when full, and keeps nothing without exp or with size 0", () => {
    const cache = createTokenCache(2);
    cache.set("a", alice, 0, 100, undefined);
    cache.set("b", bob, 0, 100, undefined);
    expect(cache.get("a", 1)).toEqual(alice);
    cache.set("c", bob, 0, 100, undefined);
    expect(cache.get("b", 1)).toBeUndefined();
    expect(cache.get("a", 1)).toEqual(alice);
    cache.set("d", alice, 0, undefined, undefined);
    expect(cache.get("d", 1)).toBeUndefined();
    const none = createTokenCache(0);
    none.set("a", alice, 0, 100, undefined);
    expect(none.get("a", 1)).toBeUndefined();
  });
});
