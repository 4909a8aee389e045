import { describe, expect, it } from "vitest";
import type { CustomAttributeDefinition } from "../../src/domain/attributes.js";
import { claimsListFor, userInfoOf } from "../../src/domain/claims.js";
import type { UserRecord } from "../../src/domain/ports.js";
import { claimsOf } from "../../src/rest/claims.js";

/** The claims a REST client reads: the domain's filtered view, rendered by the REST face. */
const filterClaims = (user: UserRecord, allowed: readonly string[], custom: readonly CustomAttributeDefinition[]) =>
  claimsOf(userInfoOf(user, allowed, custom));

const user: UserRecord = {
  sub: "u1",
  email: "a@b.c",
  emailVerified: false,
  phoneNumber: null,
  phoneNumberVerified: false,
  name: "Name",
  nickname: null,
  zoneinfo: "UTC",
  locale: null,
  customAttributes: { team: "core", stale: "left by a removed definition" },
  version: 3,
  createdAt: new Date("2026-01-01T00:00:00Z"),
  updatedAt: new Date("2026-11-28T08:00:00.999Z"),
};
const custom = [{ name: "team", type: "string", pattern: null, writable: true }] as const;

describe("claims", () => {
  it("gives everything with a value by default, updated_at in seconds, absent claims omitted", () => {
    const allowed = claimsListFor(null, undefined, custom);
    expect(filterClaims(user, allowed, custom)).toEqual({
      sub: "u1",
      name: "Name",
      email: "a@b.c",
      email_verified: false,
      zoneinfo: "UTC",
      updated_at: 1795852800,
      team: "core",
    });
  });

  it("applies a registered list, keeps sub, drops authenticationMethod", () => {
    const allowed = claimsListFor(["email", "authenticationMethod", "nickname"], ["name"], custom);
    expect(filterClaims(user, allowed, custom)).toEqual({ sub: "u1", email: "a@b.c" });
  });

  it("gives the typed view GraphQL renders: only what the application may read", () => {
    const view = userInfoOf(user, claimsListFor(["email", "team"], undefined, custom), custom);
    expect(view).toEqual({ sub: "u1", email: "a@b.c", customAttributes: { team: "core" }, version: 3 });
  });

  it("uses the operator's default list for unknown applications", () => {
    expect(filterClaims(user, claimsListFor(null, ["name", "team"], custom), custom)).toEqual({
      sub: "u1",
      name: "Name",
      team: "core",
    });
  });
});
