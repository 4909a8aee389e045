import { invalidRequest } from "../domain/errors.js";

const isJsonType = (contentType: string | null) =>
  contentType !== null && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType.trim());

/** Decoder of request bodies; `fatal`: malformed UTF-8 is refused rather than replaced. Stateless between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a request body's bytes. Its size was bounded before: the HTTP handler reads bodies up to its limit
 * (`src/http-server.ts`) before a route sees them.
 */
export async function readBody(request: Request): Promise<Buffer> {
  // The whole body at once: the HTTP handler hands it over as a Buffer, which `arrayBuffer()` returns as it is, where
  // iterating `request.body` would wrap it in a stream first (a Readable, a ReadableStream and a Proxy per request).
  const bytes: ArrayBuffer | Buffer = await request.arrayBuffer();
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
}

/** The JSON value of a request body read with {@link readBody}, or `undefined` when it is not JSON. */
export function jsonValueOf(body: Buffer): unknown {
  try {
    return JSON.parse(UTF8.decode(body)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Reads a JSON request body.
 * @throws DomainError `invalid_request` for a wrong content type or a body that is not JSON
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  return parseJsonBody(request.headers.get("content-type"), await readBody(request));
}

/**
 * A request body as JSON.
 * @throws DomainError `invalid_request` for a wrong content type or a body that is not JSON
 */
export function parseJsonBody(contentType: string | null, body: Buffer): unknown {
  if (!isJsonType(contentType)) throw invalidRequest("Content-Type must be application/json.");
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw invalidRequest("The request body is not valid UTF-8.");
  }
  if (text.trim().length === 0) throw invalidRequest("The request body is empty.");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidRequest("The request body is not valid JSON.");
  }
}
