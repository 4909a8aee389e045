import { invalidRequest } from "../domain/errors.js";

const isJsonType = (contentType: string | null) =>
  contentType !== null && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType.trim());

/**
 * Reads a request body's bytes. Its size was bounded before: the HTTP handler reads bodies up to its limit
 * (`src/http-server.ts`) before a route sees them.
 */
export async function readBody(request: Request): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  if (request.body !== null) {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The JSON value of a request body read with {@link readBody}, or `undefined` when it is not JSON. */
export function jsonValueOf(body: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body)) as unknown;
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
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
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
