import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UNAVAILABLE_RETRY_AFTER_SECONDS, UnavailableError } from "../../src/domain/errors.js";
import { directRequestOf } from "../../src/graphql/direct.js";
import { createTestGateway, failingDefinitions, type TestGateway } from "../support/gateway.js";

// The direct GraphQL path (src/graphql/direct.ts) must answer exactly as yoga does: every request below goes once
// through yoga's own pipeline (`app.yoga.fetch`) and once through the HTTP handler's dispatch (`app.fetch`), and the two
// answers must be the same - status, headers, body. Each case also says whether the direct path serves it or hands it
// to yoga, so that the comparison cannot pass by everything falling back.

let gw: TestGateway;
let broken: TestGateway;
let down: TestGateway;
let token: string;

const ME = "{ userInfo { sub nickname email locale } }";
const UPDATE = `mutation Update($input: UpdateUserInfoInput!) {
  updateUserInfo(input: $input) { __typename ... on UserInfo { sub nickname locale } ... on Error { code message field } }
}`;

interface Case {
  readonly name: string;
  /** The request's body: a string as it is, bytes as they are, anything else as JSON. */
  readonly body: unknown;
  readonly headers?: Record<string, string>;
  /** Without the bearer token. */
  readonly anonymous?: boolean;
  /** Served by the direct path (else handed to yoga). */
  readonly direct: boolean;
}

const cases: readonly Case[] = [
  { name: "a query", body: { query: ME }, direct: true },
  { name: "a mutation", body: { query: UPDATE, variables: { input: { nickname: "Ada" } } }, direct: true },
  {
    name: "a mutation with a domain error (union member)",
    body: { query: UPDATE, variables: { input: { email: "not-an-email" } } },
    direct: true,
  },
  { name: "no token (400, WWW-Authenticate)", body: { query: ME }, anonymous: true, direct: true },
  {
    name: "a malformed token",
    body: { query: ME },
    anonymous: true,
    headers: { authorization: "Bearer not.a.jwt" },
    direct: true,
  },
  { name: "variables of the wrong type", body: { query: UPDATE, variables: { input: 5 } }, direct: true },
  { name: "a missing variable", body: { query: UPDATE }, direct: true },
  {
    name: "operationName choosing among two operations",
    body: { query: `query A { userInfo { sub } } query B { userInfo { nickname } }`, operationName: "B" },
    direct: true,
  },
  {
    name: "two operations and no operationName",
    body: { query: `query A { __typename } query B { __typename }` },
    direct: true,
  },
  {
    name: "null variables, operationName and extensions",
    body: { query: ME, variables: null, operationName: null, extensions: null },
    direct: true,
  },
  {
    name: "Accept: application/graphql-response+json",
    body: { query: ME },
    headers: { accept: "application/graphql-response+json" },
    direct: true,
  },
  { name: "Accept: application/json", body: { query: ME }, headers: { accept: "application/json" }, direct: true },
  { name: "Accept: */*", body: { query: ME }, headers: { accept: "*/*" }, direct: true },
  {
    name: "Accept as Apollo Client sends it",
    body: { query: ME },
    headers: { accept: "application/graphql-response+json,application/json;q=0.9" },
    direct: true,
  },
  {
    name: "Accept as GraphiQL sends it, without a token",
    body: { query: ME },
    anonymous: true,
    headers: { accept: "application/graphql-response+json, application/json, multipart/mixed" },
    direct: true,
  },
  {
    name: "Accept: application/graphql-response+json with a validation-free variables error",
    body: { query: UPDATE, variables: { input: "x" } },
    headers: { accept: "application/graphql-response+json" },
    direct: true,
  },
  {
    name: "Content-Type with a charset",
    body: { query: ME },
    headers: { "content-type": "application/json; charset=utf-8" },
    direct: true,
  },
  { name: "Accept: text/event-stream", body: { query: ME }, headers: { accept: "text/event-stream" }, direct: false },
  { name: "Accept: text/html (406)", body: { query: ME }, headers: { accept: "text/html" }, direct: false },
  {
    name: "Accept with another charset",
    body: { query: ME },
    headers: { accept: "application/json; charset=latin1" },
    direct: false,
  },
  {
    name: "Content-Type: application/graphql+json",
    body: { query: ME },
    headers: { "content-type": "application/graphql+json" },
    direct: false,
  },
  { name: "Content-Type: text/plain", body: { query: ME }, headers: { "content-type": "text/plain" }, direct: false },
  { name: "a syntax error", body: { query: "{ userInfo { " }, direct: true },
  { name: "an unknown field", body: { query: "{ userInfo { password } }" }, direct: true },
  {
    name: "a document over the depth limit",
    body: { query: `{ ${'__type(name: "Query") { ofType { '.repeat(3)} name ${"} }".repeat(3)} }` },
    direct: true,
  },
  { name: "a batch", body: [{ query: ME }, { query: ME }], direct: false },
  { name: "extensions", body: { query: ME, extensions: { persistedQuery: { version: 1 } } }, direct: false },
  { name: "an unexpected parameter", body: { query: ME, other: 1 }, direct: false },
  { name: "query not a string", body: { query: 5 }, direct: false },
  { name: "no query", body: { variables: {} }, direct: false },
  { name: "variables a string", body: { query: ME, variables: "{}" }, direct: false },
  { name: "variables a list", body: { query: ME, variables: [] }, direct: false },
  { name: "operationName a number", body: { query: ME, operationName: 1 }, direct: false },
  { name: "a JSON string", body: '"{ userInfo { sub } }"', direct: false },
  { name: "JSON null", body: "null", direct: false },
  { name: "not JSON", body: "{ userInfo", direct: false },
  { name: "an empty body", body: "", direct: false },
  { name: "not UTF-8", body: new Uint8Array([0x7b, 0x22, 0x71, 0xff, 0x22, 0x3a, 0x31, 0x7d]), direct: false },
];

function requestOf(c: Case, bearer = token): Request {
  const authorization = `Bearer ${bearer}`;
  const body =
    typeof c.body === "string"
      ? c.body
      : c.body instanceof Uint8Array
        ? new Uint8Array(c.body) // an ArrayBuffer-backed copy: what the fetch types take
        : JSON.stringify(c.body);
  return new Request("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...(c.anonymous ? {} : { authorization }), ...c.headers },
    body,
  });
}

/** What a client sees of an answer: status, headers (names in lower case; not the date) and body. */
async function seen(response: Response) {
  const headers = Object.fromEntries(
    [...response.headers].map(([name, value]) => [name.toLowerCase(), value]).filter(([name]) => name !== "date"),
  );
  return { status: response.status, headers, body: await response.text() };
}

beforeAll(async () => {
  gw = await createTestGateway();
  broken = await createTestGateway({
    database: gw.database,
    clock: gw.clock,
    wrapStore: failingDefinitions(new Error("secret internals at /srv/x.ts:1")),
  });
  down = await createTestGateway({
    database: gw.database,
    clock: gw.clock,
    wrapStore: failingDefinitions(new UnavailableError("database down")),
  });
  token = await gw.token("direct-user");
  // The user exists before the comparison: yoga's first answer would otherwise differ from the second by creating it.
  await gw.fetch("/userinfo", { headers: { authorization: `Bearer ${token}` } });
}, 60_000);

afterAll(async () => {
  await gw?.database.close();
});

describe("POST /graphql past yoga's pipeline answers as yoga does", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.direct ? "served directly" : "handed to yoga"}, the same answer`, async () => {
      const probe = requestOf(c);
      expect(directRequestOf(probe.headers, new Uint8Array(await probe.arrayBuffer())) !== undefined).toBe(c.direct);
      // The same request twice through yoga first: a mutation's answer is then the same on every later run.
      const viaYoga = await seen(await gw.app.yoga.fetch(requestOf(c)));
      expect(await seen(await gw.app.yoga.fetch(requestOf(c)))).toEqual(viaYoga);
      // Twice through the dispatch too: a document seen before runs past the envelop (src/graphql/direct.ts).
      expect(await seen(await gw.app.fetch(requestOf(c)))).toEqual(viaYoga);
      expect(await seen(await gw.app.fetch(requestOf(c)))).toEqual(viaYoga);
      expect(viaYoga.status).toBeGreaterThanOrEqual(200);
    });
  }

  it("the answers above are the ones a client expects (spot checks)", async () => {
    const answer = async (c: Case) => seen(await gw.app.fetch(requestOf(c)));
    const named = (name: string) => cases.find((c) => c.name === name)!;
    const ok = await answer(named("a mutation"));
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(ok.body)).toEqual({
      data: { updateUserInfo: { __typename: "UserInfo", sub: "direct-user", nickname: "Ada", locale: null } },
    });
    const anonymous = await answer(named("no token (400, WWW-Authenticate)"));
    expect(anonymous.status).toBe(400);
    expect(anonymous.headers["www-authenticate"]).toMatch(/^Bearer error="invalid_request"/);
    expect(JSON.parse(anonymous.body).errors[0].extensions.code).toBe("UNAUTHENTICATED");
    const strict = await answer(named("Accept: application/graphql-response+json"));
    expect(strict.headers["content-type"]).toBe("application/graphql-response+json; charset=utf-8");
  });

  it("an unexpected error is masked, and an unavailable database is 503 with Retry-After, as through yoga", async () => {
    const c: Case = { name: "me", body: { query: ME }, direct: true };
    for (const [target, status] of [
      [broken, 500],
      [down, 503],
    ] as const) {
      const own = await target.token("direct-user");
      const viaYoga = await seen(await target.app.yoga.fetch(requestOf(c, own)));
      // The first through the envelop, the second past it (a document seen before).
      expect(await seen(await target.app.fetch(requestOf(c, own)))).toEqual(viaYoga);
      const viaDispatch = await seen(await target.app.fetch(requestOf(c, own)));
      expect(viaDispatch).toEqual(viaYoga);
      expect(viaDispatch.body).not.toContain("secret internals");
      if (status === 503) {
        expect(viaDispatch.status).toBe(503);
        expect(viaDispatch.headers["retry-after"]).toBe(String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      } else expect(JSON.parse(viaDispatch.body).errors[0].message).toBe("Unexpected error.");
    }
  });

  it("GET /graphql, and an Idempotency-Key's replay, go as through yoga", async () => {
    const get = () =>
      new Request(`http://localhost/graphql?query=${encodeURIComponent(ME)}`, {
        headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      });
    expect(await seen(await gw.app.fetch(get()))).toEqual(await seen(await gw.app.yoga.fetch(get())));
    const keyed: Case = {
      name: "keyed",
      body: {
        query: `mutation { updateUserInfo(input: { nickname: "Kay", idempotencyKey: "k-direct-1" }) { __typename ... on UserInfo { nickname } } }`,
      },
      direct: true,
    };
    const first = await seen(await gw.app.yoga.fetch(requestOf(keyed)));
    const replayed = await seen(await gw.app.fetch(requestOf(keyed)));
    expect(replayed).toEqual(first);
    expect(JSON.parse(first.body)).toEqual({ data: { updateUserInfo: { __typename: "UserInfo", nickname: "Kay" } } });
  });
});
