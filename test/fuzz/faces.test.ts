import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashClientSecret } from "../../src/auth/client-secrets.js";
import {
  authorizations,
  bodies,
  contentTypes,
  graphqlDocuments,
  graphqlInputs as inputs,
} from "../support/arbitraries.js";
import { createTestGateway, type TestGateway } from "../support/gateway.js";

// Property: whatever a client sends, every answer is a specified error or a success, and a failed request leaves
// the profile exactly as it was.

const REST_CODES = new Set([
  "invalid_request",
  "invalid_token",
  "insufficient_scope",
  "invalid_client",
  "malformed_phone_number",
  "malformed_email",
  "illegal_parameter_value",
  "bad_phone_number_otp_token",
  "bad_email_otp_token",
  "bad_phone_number_otp",
  "bad_email_otp",
  "duplicate_phone_number",
  "duplicate_email",
  "user_not_found",
  "sms_rate_limit_exceeded",
  "email_rate_limit_exceeded",
  "too_many_requests",
]);

let gw: TestGateway;
let valid: string;
let noOpenid: string;
const SUB = "fuzz-user";

beforeAll(async () => {
  gw = await createTestGateway();
  await gw.store.customAttributes.save({ name: "team", type: "string", pattern: "[a-z]{1,8}", writable: true });
  await gw.store.customAttributes.save({ name: "level", type: "number", pattern: null, writable: false });
  await gw.store.applications.save({
    clientId: "web",
    secretHash: await hashClientSecret("web-secret"),
    claims: ["name", "email"],
  });
  valid = await gw.token(SUB, { ttlSeconds: 10 * 365 * 86_400 });
  noOpenid = await gw.token(SUB, { scope: "profile" });
  await gw.fetch("/userinfo", { headers: { authorization: `Bearer ${valid}` } });
});
afterAll(() => gw?.close());

const state = async () => {
  const [user, audits] = await Promise.all([
    gw.prisma.user.findUnique({ where: { sub: SUB } }),
    gw.prisma.auditEvent.count({ where: { sub: SUB } }),
  ]);
  return { user, audits };
};

const headerValue = (authorization: string | undefined) =>
  authorization === "valid" ? `Bearer ${valid}` : authorization === "no-openid" ? `Bearer ${noOpenid}` : authorization;

describe("REST under random input", () => {
  it.each([
    ["PATCH", "/userinfo"],
    ["POST", "/otp/send"],
  ])("%s %s answers only specified errors and changes nothing when it fails", async (method, path) => {
    await fc.assert(
      fc.asyncProperty(bodies, contentTypes, authorizations, async (body, contentType, authorization) => {
        gw.clock.advance(31);
        const before = await state();
        const headers: Record<string, string> = {};
        if (contentType !== undefined) headers["content-type"] = contentType;
        const auth = headerValue(authorization);
        if (auth !== undefined) headers.authorization = auth;
        const response = await gw.fetch(path, { method, headers, body });
        expect([200, 400, 401, 403, 404, 429]).toContain(response.status);
        const json = (await response.json()) as Record<string, unknown>;
        if (response.status === 200) return;
        expect(REST_CODES).toContain(json.error);
        if (path === "/userinfo") expect(await state()).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });
});

describe("GraphQL under random input", () => {
  const documents = fc.oneof(
    fc.constant(
      "mutation($input: UpdateUserInfoInput!) { updateUserInfo(input: $input) { __typename ... on Error { code } } }",
    ),
    fc.constant("mutation($input: SendOtpInput!) { sendOtp(input: $input) { __typename ... on Error { code } } }"),
    fc.constant("{ userInfo { sub claims } }"),
    fc.string({ maxLength: 100 }),
    graphqlDocuments,
  );

  it("answers data or GraphQL errors, never an unexpected error, and failures change nothing", async () => {
    await fc.assert(
      fc.asyncProperty(documents, inputs, authorizations, async (query, input, authorization) => {
        gw.clock.advance(31);
        const before = await state();
        const auth = headerValue(authorization);
        const response = await gw.fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", ...(auth === undefined ? {} : { authorization: auth }) },
          body: JSON.stringify({ query, variables: { input } }),
        });
        expect([200, 400, 401, 403]).toContain(response.status);
        const json = (await response.json()) as {
          data?: Record<string, { __typename?: string } | null>;
          errors?: { message: string }[];
        };
        expect(json.data !== undefined || json.errors !== undefined).toBe(true);
        for (const error of json.errors ?? []) expect(error.message).not.toBe("Unexpected error.");
        const result = json.data?.updateUserInfo;
        if (result?.__typename !== "UserInfo") expect(await state()).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });
});
