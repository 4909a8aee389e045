import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRAPHIQL_EXAMPLES } from "../../src/graphql/server.js";
import { createTestGateway, type TestGateway } from "../support/gateway.js";

// What developers meet in GraphiQL: example operations with variables that run as written, and "Did you mean" hints
// where introspection shows the schema anyway.

let dev: TestGateway;
let production: TestGateway;

beforeAll(async () => {
  dev = await createTestGateway({ graphiql: { render: renderGraphiQL, authorization: "Bearer demo.token.value" } });
  production = await createTestGateway({ database: dev.database, env: { GRAPHQL_INTROSPECTION: "false" } });
});
afterAll(async () => {
  await production?.close();
  await dev?.close();
});

async function graphql(
  target: TestGateway,
  query: string,
  variables: Record<string, unknown> | undefined,
  sub = "ada",
) {
  const response = await target.fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await target.token(sub)}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: Record<string, Record<string, unknown>>; errors?: { message: string }[] };
}

describe("GraphiQL's example tabs", () => {
  it("are on the page, each operation with its variables", async () => {
    const html = await (await dev.fetch("/graphql", { headers: { accept: "text/html" } })).text();
    expect(html).toContain("mutation UpdateNickname($input: UpdateUserInfoInput!)");
    expect(html).toContain(
      JSON.stringify(
        JSON.stringify({ input: { nickname: "Ada", locale: "en_US", zoneinfo: "Asia/Shanghai" } }, null, 2),
      ).slice(1, -1),
    );
    expect(html).toContain("Bearer demo.token.value");
  });

  it("run as written, in order: read, update, send a code, change the email", async () => {
    const [me, update, send, change] = GRAPHIQL_EXAMPLES.map((tab) => tab);
    expect((await graphql(dev, me!.query, me!.variables)).data).toEqual({
      userInfo: expect.objectContaining({ sub: "ada", nickname: null }),
    });
    expect((await graphql(dev, update!.query, update!.variables)).data).toEqual({
      updateUserInfo: {
        __typename: "UserInfo",
        sub: "ada",
        nickname: "Ada",
        locale: "en-US",
        zoneinfo: "Asia/Shanghai",
      },
    });
    const sent = await graphql(dev, send!.query, send!.variables);
    expect(sent.data?.sendOtp?.__typename).toBe("SendOtpSuccess");
    // As written, the last tab's placeholders are refused; with the token and the delivered code it changes the email.
    expect((await graphql(dev, change!.query, change!.variables)).data?.updateUserInfo).toMatchObject({
      __typename: "BadOtpTokenError",
      code: "bad_email_otp_token",
    });
    const variables = {
      ...change!.variables,
      otpToken: sent.data!.sendOtp!.otpToken,
      code: dev.delivered.at(-1)!.code,
    };
    expect((await graphql(dev, change!.query, variables)).data).toEqual({
      updateUserInfo: { __typename: "UserInfo", email: "demo@example.com", emailVerified: true },
    });
  });
});

describe("field suggestions", () => {
  it("are offered where introspection is on (development), and withheld where it is off (production)", async () => {
    const typo = "{ userInfo { nickame } }";
    expect((await graphql(dev, typo, undefined)).errors?.map((e) => e.message)).toEqual([
      'Cannot query field "nickame" on type "UserInfo". Did you mean "nickname" or "name"?',
    ]);
    expect((await graphql(production, typo, undefined)).errors?.map((e) => e.message)).toEqual([
      'Cannot query field "nickame" on type "UserInfo". [Suggestion hidden]',
    ]);
  });
});
