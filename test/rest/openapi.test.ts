import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthError } from "../../src/auth/errors.js";
import type { ErrorCode } from "../../src/domain/errors.js";
import { identifierFields, profileFields } from "../../src/rest/schemas.js";
import { createTestGateway, type TestGateway } from "../support/gateway.js";
import { expectDocumentedResponse } from "../support/openapi.js";

// GET /openapi.json (SPEC 5.5): a valid OpenAPI 3.1 document of every REST route, body, status, error code and header.

let gw: TestGateway;
// biome-ignore lint/suspicious/noExplicitAny: the document is untyped JSON that each test walks into as it asserts
let document: any;

beforeAll(async () => {
  gw = await createTestGateway();
  const response = await gw.fetch("/openapi.json");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("application/json");
  document = await response.json();
});
afterAll(() => gw?.close());

/** Every `error` value a response of `operation` documents, by status. */
// biome-ignore lint/suspicious/noExplicitAny: see above
function codesOf(operation: any): Record<string, string[]> {
  const codes: Record<string, string[]> = {};
  for (const [status, response] of Object.entries(operation.responses)) {
    // biome-ignore lint/suspicious/noExplicitAny: see above
    const schema = (response as any).content?.["application/json"]?.schema;
    if (schema?.properties?.error?.enum) codes[status] = schema.properties.error.enum;
  }
  return codes;
}

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1 for a standard validator", async () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    await expect(SwaggerParser.validate(structuredClone(document))).resolves.toBeTruthy();
  });

  it("is refused by the validator when broken (the validation can fail)", async () => {
    const broken = structuredClone(document);
    delete broken.paths["/userinfo"].get.responses["200"].description;
    await expect(SwaggerParser.validate(broken)).rejects.toThrow(/description/);
  });

  it("describes the request bodies the decoder reads, from the same schemas", () => {
    const update = document.components.schemas.UpdateUserInfoRequest;
    expect(Object.keys(update.properties).sort()).toEqual(
      [...Object.keys(profileFields), ...Object.keys(identifierFields)].sort(),
    );
    expect(update.properties.name.type).toEqual(["string", "null"]);
    expect(update.properties.email.type).toBe("string");
    expect(update.additionalProperties).toBeDefined();
    expect(document.paths["/userinfo"].patch.requestBody.content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/UpdateUserInfoRequest",
    });
    const send = document.components.schemas.SendOtpRequest;
    expect(Object.keys(send.properties).sort()).toEqual(["email", "phone_number", "usage"]);
    expect(send.properties.usage).toMatchObject({
      enum: ["update_userinfo", "login", "signup", "reset_password"],
      default: "login",
    });
  });

  it("lists every status and error code of SPEC 1 and 5 per operation", () => {
    const get = codesOf(document.paths["/userinfo"].get);
    expect(get).toEqual({
      "400": ["invalid_request"],
      "401": ["invalid_token"],
      "403": ["insufficient_scope"],
      "404": ["user_not_found"],
      "500": ["server_error"],
      "503": ["temporarily_unavailable"],
    });
    expect(Object.keys(document.paths["/userinfo"].get.responses)).toContain("304");
    const patch = codesOf(document.paths["/userinfo"].patch);
    expect(patch["400"]).toEqual([
      "invalid_request",
      "malformed_phone_number",
      "malformed_email",
      "illegal_parameter_value",
      "bad_phone_number_otp_token",
      "bad_email_otp_token",
      "bad_phone_number_otp",
      "bad_email_otp",
      "duplicate_phone_number",
      "duplicate_email",
    ]);
    expect(patch).toMatchObject({
      "401": ["invalid_token", "insufficient_user_authentication"],
      "403": ["insufficient_scope"],
      "404": ["user_not_found"],
      "409": ["invalid_request"],
      "412": ["precondition_failed"],
      "413": ["invalid_request"],
      "422": ["invalid_request"],
    });
    const send = codesOf(document.paths["/otp/send"].post);
    expect(send).toMatchObject({
      "400": [
        "invalid_request",
        "malformed_phone_number",
        "malformed_email",
        "sms_rate_limit_exceeded",
        "email_rate_limit_exceeded",
      ],
      "401": ["invalid_client", "invalid_token"],
      "403": ["insufficient_scope"],
      "409": ["invalid_request"],
      "413": ["invalid_request"],
      "422": ["invalid_request"],
      "429": ["too_many_requests"],
      "503": ["temporarily_unavailable"],
    });
    expect(document.components.responses.MethodNotAllowed.headers.Allow.required).toBe(true);

    const revert = codesOf(document.paths["/userinfo/revert"].post);
    expect(revert).toMatchObject({
      "400": ["invalid_request", "invalid_revert_token", "duplicate_email", "duplicate_phone_number"],
      "413": ["invalid_request"],
      "500": ["server_error"],
      "503": ["temporarily_unavailable"],
    });
    expect(Object.keys(document.paths["/userinfo/revert"].get.responses)).toEqual(["200", "400", "500", "503"]);

    // Every code the domain and the bearer check can answer is documented somewhere.
    const documented = new Set([get, patch, send, revert].flatMap((byStatus) => Object.values(byStatus).flat()));
    const domainCodes: Record<ErrorCode, true> = {
      invalid_request: true,
      malformed_phone_number: true,
      malformed_email: true,
      illegal_parameter_value: true,
      bad_phone_number_otp_token: true,
      bad_email_otp_token: true,
      bad_phone_number_otp: true,
      bad_email_otp: true,
      duplicate_phone_number: true,
      duplicate_email: true,
      user_not_found: true,
      invalid_client: true,
      sms_rate_limit_exceeded: true,
      email_rate_limit_exceeded: true,
      temporarily_unavailable: true,
      too_many_requests: true,
      precondition_failed: true,
      insufficient_user_authentication: true,
      invalid_revert_token: true,
    };
    const bearerCodes: AuthError["code"][] = ["invalid_request", "invalid_token", "insufficient_scope"];
    for (const code of [...Object.keys(domainCodes), ...bearerCodes]) expect(documented).toContain(code);
  });

  it("documents the headers of SPEC 1 and 5 and both security schemes", () => {
    const { get, patch } = document.paths["/userinfo"];
    const post = document.paths["/otp/send"].post;
    const parameters = (operation: { parameters: { name: string; in: string }[] }) =>
      operation.parameters.map((p) => `${p.in}:${p.name}`);
    expect(parameters(get)).toEqual(["header:If-None-Match"]);
    expect(parameters(patch)).toEqual(["header:If-Match", "header:Idempotency-Key"]);
    expect(parameters(post)).toEqual(["header:Idempotency-Key"]);
    expect(Object.keys(get.responses["200"].headers)).toEqual(["ETag", "Idempotent-Replayed"]);
    expect(get.responses["200"].headers.ETag.required).toBe(true);
    expect(patch.responses["200"].headers.ETag.required).toBe(true);
    expect(get.responses["304"].headers.ETag.required).toBe(true);
    expect(get.responses["304"].content).toBeUndefined();
    expect(patch.responses["412"].headers.ETag).toBeDefined();
    for (const status of ["401", "403"]) {
      expect(patch.responses[status].headers["WWW-Authenticate"].required).toBe(true);
      expect(post.responses[status].headers["WWW-Authenticate"].required).toBe(true);
    }
    expect(post.responses["429"].headers["Retry-After"].required).toBe(true);
    expect(post.responses["400"].headers["Retry-After"].required).toBeUndefined();
    expect(get.responses["503"].headers["Retry-After"].required).toBe(true);
    expect(patch.responses["200"].headers["Idempotent-Replayed"].schema.const).toBe("true");
    expect(document.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: "http", scheme: "bearer", bearerFormat: "JWT" }),
      clientCredentials: expect.objectContaining({ type: "http", scheme: "basic" }),
    });
    expect(get.security).toEqual([{ bearer: [] }]);
    expect(post.security).toEqual([{ clientCredentials: [] }, { bearer: [] }]);
    // Errors come as Tencent bodies or, asked for, problem details.
    expect(Object.keys(patch.responses["400"].content)).toEqual(["application/json", "application/problem+json"]);
    expect(patch.responses["400"].content["application/problem+json"].schema.required).toEqual([
      "type",
      "title",
      "status",
      "detail",
      "error",
      "error_description",
    ]);
  });
});

describe("the response check every REST test runs", () => {
  const ETAG = { etag: '"1"' };
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

  it("passes documented answers and paths it does not describe", async () => {
    await expectDocumentedResponse("GET", "/userinfo", json(200, { sub: "a", nickname: "n", team: "x" }, ETAG));
    await expectDocumentedResponse("POST", "/graphql", json(418, { anything: true }));
  });

  it.each([
    ["an undocumented status", "GET", "/userinfo", json(418, { error: "invalid_request" }), /does not list/],
    ["a code the status does not document", "GET", "/userinfo", json(404, { error: "duplicate_email" }), /body/],
    ["a missing claim `sub`", "GET", "/userinfo", json(200, { nickname: "n" }, ETAG), /body/],
    ["a claim of the wrong type", "GET", "/userinfo", json(200, { sub: "a", email_verified: "yes" }, ETAG), /body/],
    ["a missing ETag", "GET", "/userinfo", json(200, { sub: "a" }), /ETag/],
    ["a missing required header", "GET", "/userinfo", json(401, { error: "invalid_token" }), /WWW-Authenticate/],
    ["an undocumented content type", "GET", "/healthz", new Response("ok", { status: 200 }), /content type/],
    ["a method without an operation", "DELETE", "/otp/send", json(200, {}), /not documented/],
    [
      "a malformed header",
      "GET",
      "/userinfo",
      json(503, { error: "temporarily_unavailable" }, { "retry-after": "soon" }),
      /Retry-After/,
    ],
  ])("fails on %s", async (_label, method, path, response, message) => {
    await expect(expectDocumentedResponse(method, path, response)).rejects.toThrow(message);
  });
});
