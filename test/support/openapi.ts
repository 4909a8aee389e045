import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { openApiDocument } from "../../src/rest/openapi.js";

// Checks REST answers against the OpenAPI description (`GET /openapi.json`): the status is documented for the
// operation, every required header is there, documented headers and the body match their schemas, and the content type
// is one the answer documents. `createTestGateway`'s `fetch` runs it on every answer, so every REST test checks the
// description for free.

const DOCUMENT_ID = "urn:userinfo-bff:openapi";

interface HeaderObject {
  readonly required?: boolean;
  readonly schema?: object;
}
interface ResponseObject {
  readonly $ref?: string;
  readonly headers?: Record<string, HeaderObject>;
  readonly content?: Record<string, { readonly schema?: object }>;
}

const document = openApiDocument() as unknown as {
  paths: Record<string, Record<string, { responses: Record<string, ResponseObject> }>>;
  components: { responses: Record<string, ResponseObject> };
};

// The document is not a JSON Schema, but its schemas are (OpenAPI 3.1 is JSON Schema 2020-12): registered whole, a
// schema is compiled by its JSON pointer, and its `#/components/schemas/...` references resolve in the document.
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
ajv.addSchema(document, DOCUMENT_ID);
const validators = new Map<string, ValidateFunction>();

const pointerSegment = (segment: string) => segment.replaceAll("~", "~0").replaceAll("/", "~1");
const pointer = (...segments: string[]) => `#/${segments.map(pointerSegment).join("/")}`;

function validatorAt(at: string): ValidateFunction {
  let validate = validators.get(at);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `${DOCUMENT_ID}${at}` });
    validators.set(at, validate);
  }
  return validate;
}

function check(at: string, value: unknown, what: string): void {
  const validate = validatorAt(at);
  if (!validate(value)) {
    throw new Error(`${what} does not match the OpenAPI description (${at}): ${ajv.errorsText(validate.errors)}`);
  }
}

/** The documented answer for `method` and `status` on `path`, with its JSON pointer; undefined: not a REST path. */
function documentedResponse(method: string, path: string, status: number) {
  const item = document.paths[path];
  if (item === undefined) return undefined;
  const operationMethod = method === "HEAD" ? "get" : method.toLowerCase();
  const operation = item[operationMethod];
  if (operation === undefined) {
    if (status !== 405) throw new Error(`${method} ${path} answered ${status}: the method is not documented`);
    return {
      at: pointer("components", "responses", "MethodNotAllowed"),
      spec: document.components.responses.MethodNotAllowed!,
    };
  }
  const spec = operation.responses[String(status)];
  if (spec === undefined)
    throw new Error(`${method} ${path} answered ${status}, which its OpenAPI operation does not list`);
  if (spec.$ref !== undefined) {
    const name = spec.$ref.split("/").pop()!;
    return { at: pointer("components", "responses", name), spec: document.components.responses[name]! };
  }
  return { at: pointer("paths", path, operationMethod, "responses", String(status)), spec };
}

/**
 * Checks an answer to `method` `url` against the OpenAPI description; paths it does not describe (GraphQL, tRPC) pass.
 * Reads a clone of the body, so the caller can still read it.
 * @throws Error naming what does not match
 */
export async function expectDocumentedResponse(method: string, url: string, response: Response): Promise<void> {
  const path = new URL(url, "http://localhost").pathname;
  // CORS preflights are answered by the HTTP layer for every path, outside the API the description documents.
  if (method === "OPTIONS" && response.headers.has("access-control-allow-methods")) return;
  const documented = documentedResponse(method, path, response.status);
  if (documented === undefined) return;
  const { at, spec } = documented;
  const what = `${method} ${path} ${response.status}`;
  for (const [name, header] of Object.entries(spec.headers ?? {})) {
    const value = response.headers.get(name);
    if (value === null) {
      if (header.required === true) throw new Error(`${what}: the required header ${name} is missing`);
      continue;
    }
    if (header.schema !== undefined)
      check(`${at}/headers/${pointerSegment(name)}/schema`, value, `${what} header ${name}`);
  }
  const body = method === "HEAD" ? "" : await response.clone().text();
  if (spec.content === undefined) {
    if (body !== "") throw new Error(`${what}: a body where the description documents none`);
    return;
  }
  const contentType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const media = spec.content[contentType];
  if (media === undefined) {
    throw new Error(`${what}: content type ${contentType} is not among ${Object.keys(spec.content).join(", ")}`);
  }
  if (method === "HEAD" || media.schema === undefined) return;
  const value = contentType.endsWith("json") ? (JSON.parse(body) as unknown) : body;
  check(`${at}/content/${pointerSegment(contentType)}/schema`, value, `${what} body`);
}

/**
 * `fetch`, with a REST answer checked against the OpenAPI description first: for tests that reach a gateway process
 * over HTTP (the in-process test gateway's `fetch` checks its answers itself).
 */
export async function checkedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, init);
  await expectDocumentedResponse(init.method ?? "GET", url, response);
  return response;
}
