import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, jsonFingerprint } from "../../src/domain/idempotency.js";

// The fingerprint of an idempotent request's body (SPEC 5.2: "compared as parsed JSON").

/** The recursive form the fingerprint was first computed with: kept keys must keep matching after the change. */
function recursiveReference(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return ["a", v.map(canonical)];
    if (typeof v === "object" && v !== null) {
      return [
        "o",
        Object.keys(v)
          .sort()
          .map((key) => [key, canonical((v as Record<string, unknown>)[key])]),
      ];
    }
    return v;
  };
  return JSON.stringify(canonical(value));
}

describe("canonicalJson", () => {
  it("writes exactly what the recursive form wrote, for any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(recursiveReference(value));
      }),
      { numRuns: 500 },
    );
    expect(canonicalJson({ b: [1, { d: null, c: "x" }], a: true, __proto__x: [] })).toBe(
      '["o",[["__proto__x",["a",[]]],["a",true],["b",["a",[1,["o",[["c","x"],["d",null]]]]]]]]',
    );
  });

  it("ignores the order of object keys, not the order of array items", () => {
    expect(jsonFingerprint(JSON.parse('{"a":1,"b":[1,2]}'))).toBe(jsonFingerprint(JSON.parse('{"b":[1,2],"a":1}')));
    expect(jsonFingerprint([1, 2])).not.toBe(jsonFingerprint([2, 1]));
    expect(jsonFingerprint(JSON.parse('{"__proto__":1}'))).not.toBe(jsonFingerprint({}));
  });

  it("takes a body nested as deep as 64 KiB of brackets allows, where the recursive form overflowed the stack", () => {
    const deep = JSON.parse(`${"[".repeat(32_000)}${"]".repeat(32_000)}`) as unknown;
    expect(() => recursiveReference(deep)).toThrow(RangeError);
    expect(canonicalJson(deep)).toBe(`${'["a",['.repeat(32_000)}${"]]".repeat(32_000)}`);
    const objects = JSON.parse(`${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`) as unknown;
    expect(jsonFingerprint(objects)).toMatch(/^[\w-]{43}$/);
  });
});
