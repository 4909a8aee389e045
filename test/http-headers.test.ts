import { Request } from "@whatwg-node/fetch";
import { describe, expect, it } from "vitest";
import { NodeRequestHeaders } from "../src/http-headers.js";

describe("NodeRequestHeaders", () => {
  // As node:http hands them over: names in lower case, `set-cookie` a list, other repeated headers joined already.
  const node = {
    host: "gateway.example",
    authorization: "Bearer abc",
    "content-type": "application/json",
    "set-cookie": ["a=1", "b=2"],
    "x-forwarded-for": "192.0.2.1, 198.51.100.2",
  };

  it("reads headers by name in any case, and answers null for one the request did not carry", () => {
    const headers = new NodeRequestHeaders(node);
    expect(headers.get("authorization")).toBe("Bearer abc");
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(headers.get("if-match")).toBeNull();
    expect(headers.has("HOST")).toBe(true);
    expect(headers.has("idempotency-key")).toBe(false);
    expect(headers.get("set-cookie")).toBe("a=1, b=2");
    expect(headers.getSetCookie()).toEqual(["a=1", "b=2"]);
  });

  it("iterates in name order, as fetch's Headers do", () => {
    const headers = new NodeRequestHeaders(node);
    const seen: string[] = [];
    headers.forEach((value, name) => {
      seen.push(`${name}: ${value}`);
    });
    expect(seen).toEqual([
      "authorization: Bearer abc",
      "content-type: application/json",
      "host: gateway.example",
      "set-cookie: a=1, b=2",
      "x-forwarded-for: 192.0.2.1, 198.51.100.2",
    ]);
    expect([...headers.keys()]).toEqual(["authorization", "content-type", "host", "set-cookie", "x-forwarded-for"]);
    expect([...headers].map(([name, value]) => `${name}: ${value}`)).toEqual(seen);
  });

  it("changes a copy, never node's own object", () => {
    const own = { ...node };
    const headers = new NodeRequestHeaders(own);
    headers.set("Content-Length", "0");
    headers.append("x-forwarded-for", "203.0.113.9");
    headers.append("set-cookie", "c=3");
    headers.delete("authorization");
    expect(headers.get("content-length")).toBe("0");
    expect(headers.get("x-forwarded-for")).toBe("192.0.2.1, 198.51.100.2, 203.0.113.9");
    expect(headers.getSetCookie()).toEqual(["a=1", "b=2", "c=3"]);
    expect(headers.get("authorization")).toBeNull();
    expect(own).toEqual(node);
  });

  it("is the headers of the fetch Request the REST routes read, a bodiless DELETE included", () => {
    const request = new Request("http://gateway.example/userinfo", {
      method: "GET",
      headers: new NodeRequestHeaders(node),
    });
    expect(request.headers.get("authorization")).toBe("Bearer abc");
    expect(request.headers.get("accept")).toBeNull();
    // The fetch Request gives a bodiless request other than GET or HEAD a Content-Length of 0.
    const own = { ...node };
    const deletion = new Request("http://gateway.example/userinfo/revert", {
      method: "DELETE",
      headers: new NodeRequestHeaders(own),
    });
    expect(deletion.headers.get("content-length")).toBe("0");
    expect(own).toEqual(node);
  });
});
