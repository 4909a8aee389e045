import { describe, expect, it } from "vitest";
import {
  type CustomAttributeDefinition,
  canonicalLocale,
  canonicalTimeZone,
  isEmailAddress,
  normalizePhoneNumber,
} from "../../src/domain/attributes.js";
import { DomainError } from "../../src/domain/errors.js";
import { validateUpdate, WRONG_TYPE } from "../../src/domain/update-command.js";
import { decodeUpdateCommand } from "../../src/rest/decode.js";

/** A REST body through the REST face's decoder and the domain's rules. */
const parseUpdateRequest = (body: unknown, custom: readonly CustomAttributeDefinition[]) =>
  validateUpdate(decodeUpdateCommand(body), custom);

describe("normalizePhoneNumber", () => {
  it.each([
    ["13800138000", "13800138000"],
    ["+8613800138000", "13800138000"],
    ["+86 138 0013 8000", "13800138000"],
    ["0086-138-0013-8000", "13800138000"],
    ["199 9999 9999", "19999999999"],
  ])("%s -> %s", (input, expected) => expect(normalizePhoneNumber(input)).toBe(expected));

  it.each([
    ["12800138000"],
    ["1380013800"],
    ["+85213800138000"],
    ["86 13800138000"],
    ["138-0013-800a"],
    ["(138)00138000"],
    ["1".repeat(40)],
  ])("rejects %s", (input) => expect(normalizePhoneNumber(input)).toBeUndefined());
});

describe("isEmailAddress", () => {
  it.each([
    ["a@b"],
    ["first.last@example.com"],
    ["x@mail-1.example.co"],
    ["!#$%&'*+/=?^_`{|}~-@example.com"],
    [`${"a".repeat(64)}@example.com`],
  ])("accepts %s", (input) => expect(isEmailAddress(input)).toBe(true));
  it.each([
    ["a"],
    ["a@b."],
    ["a.@b.com"],
    ["a@.b"],
    ["a@b c"],
    [" a@b.com"],
    ["a@b.com "],
    [`a@${"b".repeat(253)}`],
    ['"a b"@example.com'],
    ["x@[IPv6:::1]"],
    [`${"a".repeat(65)}@example.com`],
    ["a@b_c.com"],
    ["a@-b.com"],
  ])("rejects %j", (input) => expect(isEmailAddress(input)).toBe(false));
});

describe("canonicalTimeZone and canonicalLocale", () => {
  it("canonicalizes the case of known zones and rejects pseudo-zones", () => {
    expect(canonicalTimeZone("europe/paris")).toBe("Europe/Paris");
    expect(canonicalTimeZone("America/Argentina/Buenos_Aires")).toBe("America/Argentina/Buenos_Aires");
    expect(canonicalTimeZone("america/argentina/buenos_aires")).toBe("America/Argentina/Buenos_Aires");
    expect(canonicalTimeZone("Asia/Calcutta")).toBe("Asia/Calcutta");
    expect(canonicalTimeZone("UTC")).toBe("UTC");
    for (const zone of [
      "posixrules",
      "localtime",
      "Factory",
      "posix/Europe/Paris",
      "right/UTC",
      "+08:00",
      "Asia/Nowhere",
      "../etc/passwd",
    ]) {
      expect(canonicalTimeZone(zone)).toBeUndefined();
    }
  });

  it("canonicalizes BCP 47 tags and accepts underscores", () => {
    expect(canonicalLocale("en_US")).toBe("en-US");
    expect(canonicalLocale("ZH-cn")).toBe("zh-CN");
    expect(canonicalLocale("sr_Latn_RS")).toBe("sr-Latn-RS");
    expect(canonicalLocale("en US")).toBeUndefined();
    expect(canonicalLocale("")).toBeUndefined();
  });
});

describe("validateUpdate (of decoded REST bodies)", () => {
  const custom = [
    { name: "team", type: "string", pattern: "[a-z]+", writable: true },
    { name: "level", type: "number", pattern: null, writable: false },
  ] as const;
  const codeOf = (body: unknown) => {
    try {
      parseUpdateRequest(body, custom);
      return "ok";
    } catch (error) {
      expect(error).toBeInstanceOf(DomainError);
      const e = error as DomainError;
      return e.description === undefined ? e.code : `${e.code}: ${e.description}`;
    }
  };

  it("fails in the order of the contract", () => {
    const all = { foo: 1, level: 2, email: "bad", phone_number: "bad", name: "" };
    expect(codeOf(all)).toBe("invalid_request: Unknown attribute(s) found.");
    const { foo: _foo, ...noUnknown } = all;
    expect(codeOf(noUnknown)).toBe("invalid_request: Unsupported user attribute(s) found.");
    const { level: _level, ...writable } = noUnknown;
    expect(codeOf(writable)).toBe(
      "invalid_request: phone_number requires phone_number_otp_token and phone_number_otp.",
    );
    const companions = { phone_number_otp_token: "t", phone_number_otp: "1", email_otp_token: "t", email_otp: "1" };
    expect(codeOf({ ...writable, ...companions })).toBe("malformed_phone_number");
    expect(codeOf({ ...writable, ...companions, phone_number: "13800138000" })).toBe("malformed_email");
    expect(codeOf({ ...writable, ...companions, phone_number: "13800138000", email: "a@b.c" })).toBe(
      "illegal_parameter_value",
    );
    expect(codeOf({ ...companions, phone_number: "13800138000", email: "a@b.c", name: "ok" })).toBe("ok");
  });

  it("returns the normalized request", () => {
    const request = parseUpdateRequest(
      { name: " N ", locale: null, team: "core", email: "A@B.c", email_otp_token: "t", email_otp: "123456" },
      custom,
    );
    expect(request).toEqual({
      profile: { name: "N", locale: null },
      customSet: { team: "core" },
      customUnset: [],
      verified: [{ attribute: "email", value: "A@B.c", target: "a@b.c", otpToken: "t", otp: "123456" }],
    });
  });

  it("reports a value of the wrong JSON type as illegal, after malformed addresses", () => {
    const companions = { email_otp_token: "t", email_otp: "1" };
    expect(codeOf({ name: 5, email: "bad", ...companions })).toBe("malformed_email");
    expect(codeOf({ name: 5, email: "a@b.c", ...companions })).toBe("illegal_parameter_value");
    expect(codeOf({ email: 5, ...companions })).toBe("malformed_email");
    expect(codeOf({ email: "a@b.c", email_otp_token: 5, email_otp: "1" })).toBe("illegal_parameter_value");
    expect(decodeUpdateCommand({ name: 5, nickname: null }).profile).toEqual({ name: WRONG_TYPE, nickname: null });
  });

  it("treats keys named like an object's prototype as unknown attributes", () => {
    expect(codeOf(JSON.parse('{"__proto__": {"team": "x"}}'))).toBe("invalid_request: Unknown attribute(s) found.");
    expect(codeOf(JSON.parse('{"constructor": 1}'))).toBe("invalid_request: Unknown attribute(s) found.");
  });

  it("anchors custom patterns to the whole value", () => {
    expect(codeOf({ team: "core1" })).toBe("illegal_parameter_value");
    expect(codeOf({ team: "core" })).toBe("ok");
  });
});
