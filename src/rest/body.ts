import { invalidRequest } from "../domain/errors.js";

const isJsonType = (contentType: string | null) =>
  contentType !== null && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType.trim());

/**
 * Reads a JSON request body. Its size was bounded before: the HTTP handler reads bodies up to its limit
 * (`src/http-server.ts`) before a route sees them.
 * @throws DomainError `invalid_request` for a wrong content type or a body that is not JSON
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  if (!isJsonType(request.headers.get("content-type"))) {
    throw invalidRequest("Content-Type must be application/json.");
  }
  const chunks: Uint8Array[] = [];
  if (request.body !== null) {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
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
