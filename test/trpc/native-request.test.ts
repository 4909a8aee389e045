import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createYoga } from "graphql-yoga";
import { afterEach, describe, expect, it } from "vitest";
import { withPlatformSignal } from "../../src/trpc/native-request.js";

// The workaround of src/trpc/native-request.ts, tried on the requests yoga's Node adapter really makes: their signal
// is @whatwg-node's own, which Node 24's AbortSignal.any refuses.

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** Serves a yoga instance whose every request goes to `handle`; returns its port. */
async function serve(handle: (request: Request) => Promise<Response>): Promise<number> {
  const yoga = createYoga({
    plugins: [
      {
        async onRequest({ request, endResponse }) {
          endResponse(await handle(request));
        },
      },
    ],
  });
  server = createServer(yoga);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return (server!.address() as AddressInfo).port;
}

/** True when `signal` is a platform AbortSignal (what Node 24's AbortSignal.any insists on): its getters accept it. */
function isPlatformSignal(signal: AbortSignal): boolean {
  try {
    Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted")!.get!.call(signal);
    return true;
  } catch {
    return false;
  }
}

describe("withPlatformSignal", () => {
  it("is still needed: yoga's Node adapter gives requests a signal that is not a platform AbortSignal", async () => {
    // When this fails, the adapter's signals are platform ones: src/trpc/native-request.ts can go.
    const port = await serve(async (request) => Response.json({ platform: isPlatformSignal(request.signal) }));
    expect(await (await fetch(`http://127.0.0.1:${port}/trpc/userInfo`)).json()).toEqual({ platform: false });
  });

  it("gives a request that AbortSignal.any accepts, with the same method, URL, headers and body", async () => {
    const port = await serve(async (request) => {
      const platform = withPlatformSignal(request, await request.arrayBuffer());
      const combined = AbortSignal.any([platform.signal, new AbortController().signal]);
      return Response.json({
        platform: isPlatformSignal(platform.signal),
        combined: combined.aborted,
        method: platform.method,
        url: platform.url,
        type: platform.headers.get("content-type"),
        custom: platform.headers.get("x-custom"),
        body: await platform.text(),
      });
    });
    const response = await fetch(`http://127.0.0.1:${port}/trpc/sendOtp?batch=1`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-custom": "kept" },
      body: '{"0":{"email":"a@example.com"}}',
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      platform: true,
      combined: false,
      method: "POST",
      url: `http://127.0.0.1:${port}/trpc/sendOtp?batch=1`,
      type: "application/json",
      custom: "kept",
      body: '{"0":{"email":"a@example.com"}}',
    });
  });

  it("carries no body for GET", async () => {
    const port = await serve(async (request) => {
      const platform = withPlatformSignal(request, undefined);
      return Response.json({ method: platform.method, body: platform.body });
    });
    const response = await fetch(`http://127.0.0.1:${port}/trpc/userInfo`);
    expect(await response.json()).toEqual({ method: "GET", body: null });
  });

  it("aborts the platform signal when the client goes away", async () => {
    let aborted!: (reason: unknown) => void;
    const abortedSeen = new Promise((resolve) => {
      aborted = resolve;
    });
    let received!: () => void;
    const receivedSeen = new Promise<void>((resolve) => {
      received = resolve;
    });
    const port = await serve(async (request) => {
      const platform = withPlatformSignal(request, undefined);
      platform.signal.addEventListener("abort", () => aborted(platform.signal.aborted));
      received();
      await abortedSeen;
      return new Response(null, { status: 204 });
    });
    const client = httpRequest({ host: "127.0.0.1", port, path: "/trpc/userInfo" });
    client.on("error", () => {});
    client.end();
    await receivedSeen;
    client.destroy();
    expect(await abortedSeen).toBe(true);
  });
});
