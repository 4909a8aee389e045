import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FULL_INTROSPECTION_QUERY, MAX_SELECTION_DEPTH, maxResultValues } from "../../src/graphql/limits.js";
import { schema } from "../../src/graphql/schema.js";
import { createTestGateway, type TestGateway } from "../support/gateway.js";

let gw: TestGateway;
let closed: TestGateway;

beforeAll(async () => {
  gw = await createTestGateway();
  closed = await createTestGateway({ database: gw.database, env: { GRAPHQL_INTROSPECTION: "false" } });
});
afterAll(async () => {
  await closed?.close();
  await gw?.close();
});

async function run(query: string, target = gw) {
  const response = await target.fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: GraphQL answers are untyped JSON that each test walks into as it asserts
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: { message: string }[] } };
}

/** `ofType { ofType { ... name } }`, `levels` deep. */
function ofTypeChain(levels: number): string {
  let inner = "name";
  for (let i = 0; i < levels; i++) inner = `ofType { ${inner} }`;
  return inner;
}

const FULL_INTROSPECTION = FULL_INTROSPECTION_QUERY;

describe("introspection, when on", () => {
  it("answers the full introspection query that GraphiQL and code generators send", async () => {
    const { body } = await run(FULL_INTROSPECTION);
    expect(body.errors).toBeUndefined();
    expect(body.data.__schema.types.map((t: { name: string }) => t.name)).toContain("UserInfo");
  });

  it("refuses a selection nested deeper than the limit, however it nests: ofType chains", async () => {
    const { body } = await run(`{ __schema { types { ${ofTypeChain(600)} } } }`);
    expect(body.data).toBeUndefined();
    expect(body.errors?.map((e) => e.message)).toContain(
      `Query depth limit of ${MAX_SELECTION_DEPTH} exceeded, found 603.`,
    );
  });

  it("refuses depth hidden in fragments, and in __type", async () => {
    const fragments = Array.from(
      { length: 20 },
      (_, i) => `fragment F${i} on __Type { name ofType { ...F${i + 1} } }`,
    ).join("\n");
    const spread = await run(`{ __schema { types { ...F0 } } } ${fragments} fragment F20 on __Type { name }`);
    expect(spread.body.errors?.map((e) => e.message)).toContain(
      `Query depth limit of ${MAX_SELECTION_DEPTH} exceeded, found 23.`,
    );
    const type = await run(`{ __type(name: "UserInfo") { ...F0 } } ${fragments} fragment F20 on __Type { name }`);
    expect(type.body.data).toBeUndefined();
    expect(type.body.errors?.[0]?.message).toMatch(/^Syntax Error: Query (depth|Cost) limit of [0-9]+ exceeded/);
  });

  it("refuses answers that could grow past the budget, counting every list at its longest and every spread in full", async () => {
    // Within the depth limit, but each level multiplies: fields x args x ... of every type.
    const leaf = `name description ${"... on __InputValue { name } ".repeat(40)}`;
    const query = `{ __schema { types { fields { type { fields { args { ...Leaf } } } } } } }
      fragment Leaf on __InputValue { ${leaf} type { name } }`;
    const { body } = await run(query);
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.message).toMatch(
      new RegExp(
        `^The answer could hold more than ${maxResultValues(schema)} values \\(up to [0-9]+\\): select less\\.$`,
      ),
    );
  });

  it("bounds the answer even when every selection is merged at run time (one fragment spread many times)", async () => {
    const spreads = Array.from(
      { length: 12 },
      (_, i) =>
        `fragment S${i} on __Type { name fields { type { ...S${i + 1} } } interfaces { ...S${i + 1} } possibleTypes { ...S${i + 1} } }`,
    ).join("\n");
    const { body } = await run(`{ __schema { types { ...S0 } } } ${spreads} fragment S12 on __Type { name }`);
    expect(body.data).toBeUndefined();
    expect(body.errors?.length).toBeGreaterThan(0);
  });
});

describe("introspection, when off (GRAPHQL_INTROSPECTION=false; the production default)", () => {
  it("refuses __schema and __type, and still answers __typename and operations", async () => {
    const schemaQuery = await run(FULL_INTROSPECTION, closed);
    expect(schemaQuery.body.data).toBeUndefined();
    expect(schemaQuery.body.errors?.[0]?.message).toMatch(/GraphQL introspection has been disabled/);
    const typeQuery = await run(`{ __type(name: "UserInfo") { name } }`, closed);
    expect(typeQuery.body.errors?.[0]?.message).toMatch(/GraphQL introspection has been disabled/);
    expect((await run(`{ __typename }`, closed)).body).toEqual({ data: { __typename: "Query" } });
  });

  it("names no field or enum value of the schema in variables errors, as it names none in validation errors", async () => {
    const withVariables = async (target: TestGateway, variables: Record<string, unknown>) => {
      const response = await target.fetch("/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: "mutation($i: UpdateUserInfoInput!) { updateUserInfo(input: $i) { __typename } }",
          variables,
        }),
      });
      return ((await response.json()) as { errors: { message: string }[] }).errors.map((e) => e.message);
    };
    const misspelled = { i: { nicknam: "x" } };
    expect(await withVariables(closed, misspelled)).toEqual([
      'Variable "$i" got invalid value { nicknam: "x" }; Field "nicknam" is not defined by type "UpdateUserInfoInput".',
    ]);
    // Where introspection shows the schema anyway, the suggestion helps.
    expect((await withVariables(gw, misspelled))[0]).toMatch(/Did you mean "nickname"\?$/);
    const closedMessages = await withVariables(closed, { i: { nickname: "x", nickName: 1, emailotp: 2 } });
    expect(closedMessages.length).toBeGreaterThan(0);
    for (const message of closedMessages) expect(message).not.toContain("Did you mean");
  });

  it("is off by default in production and on in development", async () => {
    const { loadConfig } = await import("../../src/config.js");
    expect(
      loadConfig({ NODE_ENV: "production", AUTH_DEV_ISSUER: "true", ALLOW_LOG_DELIVERY: "true" }).graphqlIntrospection,
    ).toBe(false);
    expect(
      loadConfig({
        NODE_ENV: "production",
        AUTH_DEV_ISSUER: "true",
        ALLOW_LOG_DELIVERY: "true",
        GRAPHQL_INTROSPECTION: "true",
      }).graphqlIntrospection,
    ).toBe(true);
    expect(loadConfig({}).graphqlIntrospection).toBe(true);
  });
});
