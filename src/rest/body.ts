import { invalidRequest } from "../domain/errors.js";

/** The largest request body accepted (bytes). */
export const MAX_BODY_BYTES = 64 * 1024;

/** The request body is larger than {@link MAX_BODY_BYTES}. */
export class PayloadTooLargeError extends Error {
  override name = "PayloadTooLargeError";
}

const isJsonType = (contentType: string | null) =>
  contentType !== null && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType.trim());

/**
 * Reads a JSON request body, at most {@link MAX_BODY_BYTES} bytes.
 * @throws DomainError `invalid_request` for a wrong content type or a body that is not JSON
 * @throws PayloadTooLargeError
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  if (!isJsonType(request.headers.get("content-type"))) {
    throw invalidRequest("Content-Type must be application/json.");
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new PayloadTooLargeError();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body !== null) {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError();
      chunks.push(chunk);
    }
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
