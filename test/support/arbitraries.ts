import fc from "fast-check";

// Random input for property tests of both faces: REST bodies, headers, GraphQL inputs and whole GraphQL documents.

const KEYS = [
  "name",
  "nickname",
  "zoneinfo",
  "locale",
  "email",
  "email_otp_token",
  "email_otp",
  "phone_number",
  "phone_number_otp_token",
  "phone_number_otp",
  "team",
  "level",
  "sub",
  "email_verified",
  "picture",
  "usage",
  "__proto__",
  "constructor",
  "",
  "x",
];
const strings = fc.oneof(
  fc.string(),
  fc.constantFrom(
    "",
    " ",
    "13800138000",
    "+86 138-0013-8000",
    "a@b.c",
    '"a"@b.c',
    "Asia/Shanghai",
    "en_US",
    "posixrules",
    "abc",
    "\u0000",
    "\ud800",
    "a\udc00b",
    "😀".repeat(70),
    "update_userinfo",
    "login",
  ),
  fc.string({ unit: "binary", maxLength: 80 }),
);
/** Any JSON value an attribute could be given. */
export const values = fc.oneof(
  strings,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(strings, { maxLength: 2 }),
  fc.dictionary(fc.string(), strings, { maxKeys: 2 }),
);
/** REST bodies: objects of (mostly) attribute keys, any JSON, and text that is not JSON. */
export const bodies = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.dictionary(fc.constantFrom(...KEYS), values, { maxKeys: 5 }).map((o) => JSON.stringify(o)),
  },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"a":',
      "",
      "[]",
      "null",
      '"x"',
      "{}",
      '{"nickname":"x"}'.repeat(2),
      '{"name":"\\ud800"}',
    ),
  },
);
export const contentTypes = fc.constantFrom<string | undefined>(
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/vnd.api+json",
  "garbage/;;",
);
/** `valid` and `no-openid` stand for tokens the test mints; the rest are sent as they are. */
export const authorizations = fc.constantFrom<string | undefined>(
  undefined,
  "valid",
  "no-openid",
  "Bearer",
  "Bearer x.y.z",
  "Basic d2ViOndlYi1zZWNyZXQ=",
  "Basic d2ViOndyb25n",
  "Basic !!",
  "bearer  ",
);
const inputKeys = [
  "name",
  "nickname",
  "zoneinfo",
  "locale",
  "email",
  "emailOtpToken",
  "emailOtp",
  "phoneNumber",
  "phoneNumberOtpToken",
  "phoneNumberOtp",
  "customAttributes",
  "usage",
  "bogus",
];
/** Variables for `UpdateUserInfoInput` / `SendOtpInput`, right and wrong. */
export const graphqlInputs = fc.dictionary(fc.constantFrom(...inputKeys), values, { maxKeys: 4 });

const FIELDS = [
  "__typename",
  "__schema",
  '__type(name: "UserInfo")',
  "types",
  "fields",
  "type",
  "ofType",
  "name",
  "kind",
  "interfaces",
  "possibleTypes",
  "inputFields",
  "args",
  "enumValues",
  "directives",
  "description",
  "userInfo",
  "sub",
  "claims",
  "customAttributes",
  "queryType",
  "bogus",
];
/**
 * Whole GraphQL documents: selections nested deep and wide over real and made-up fields (introspection's included),
 * with aliases, inline fragments and named fragments spread many times.
 */
export const graphqlDocuments = fc
  .letrec<{ selection: string }>((tie) => ({
    selection: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(...FIELDS),
      fc
        .tuple(fc.constantFrom(...FIELDS), fc.array(tie("selection"), { minLength: 1, maxLength: 6 }))
        .map(([f, s]) => `${f} { ${s.join(" ")} }`),
      fc.tuple(fc.nat(40), tie("selection")).map(([n, s]) => `a${n}: ${s}`),
      fc
        .tuple(
          fc.constantFrom("__Type", "__Field", "__Schema", "UserInfo"),
          fc.array(tie("selection"), { minLength: 1, maxLength: 4 }),
        )
        .map(([t, s]) => `... on ${t} { ${s.join(" ")} }`),
      fc.constantFrom("...F", "...G"),
      fc.nat(700).map((n) => `${"ofType { ".repeat(n)}name${" }".repeat(n)}`),
    ),
  }))
  .selection.chain((root) =>
    fc
      .tuple(
        fc.constantFrom("query", "mutation", ""),
        fc.array(fc.constantFrom(...FIELDS), { maxLength: 8 }),
        fc.constantFrom("none", "tree", "cycle"),
      )
      .map(([kind, fragmentFields, fragments]) => {
        const g =
          fragments === "cycle"
            ? "fields { type { ...F } } name"
            : "fields { type { name kind } } interfaces { name } name";
        const defined =
          fragments === "none"
            ? ""
            : ` fragment F on __Type { ${fragmentFields.join(" ") || "name"} ...G ...G } fragment G on __Type { ${g} }`;
        return `${kind} { ${root} }${defined}`;
      }),
  );
