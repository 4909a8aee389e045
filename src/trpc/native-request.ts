// Workaround for a library incompatibility, isolated here: yoga's Node adapter (@whatwg-node/server) gives each request
// an abort signal of its own making (`CustomAbortControllerSignal`, a Proxy posing as an AbortSignal). tRPC's fetch
// adapter combines the request's signal with `AbortSignal.any`, and Node 24 checks the brand of every signal it is
// given: there every tRPC call failed with `TypeError: signals[0] is not of type AbortSignal` (Node 20 does not check).
// tRPC is therefore handed a platform Request whose signal is a real AbortSignal that follows the original one.
// Upstream: https://github.com/ardatan/whatwg-node/issues/2445 (closed, yet still so with @whatwg-node/server 0.11 on
// Node 24.22); test/trpc/native-request.test.ts says when this can go.

/**
 * The same request as a platform `Request` with a platform `AbortSignal`, aborted when the original is; `body` is the
 * original's, read already (none for GET and HEAD).
 */
export function withPlatformSignal(request: Request, body: ArrayBuffer | undefined): Request {
  const controller = new AbortController();
  const { signal } = request;
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  return new globalThis.Request(request.url, {
    method: request.method,
    headers: [...request.headers],
    body,
    signal: controller.signal,
  });
}
