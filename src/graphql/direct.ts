import { isUtf8 } from "node:buffer";
import { type DocumentNode, type ExecutionResult, execute, GraphQLError, type GraphQLSchema } from "graphql";
import { createGraphQLError, processRegularResult, type YogaServerInstance } from "graphql-yoga";
import type { GraphQLContext } from "./context.js";
import { documentCache } from "./limits.js";

/** The media types yoga answers a single (not streamed) result with. */
type RegularMediaType = "application/graphql-response+json" | "application/json";

/** A GraphQL request in the one shape the direct path serves: `{ query, variables?, operationName? }`. */
interface DirectParams {
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly operationName?: string;
}

/** A fetch handler: a `Request` and its server context (`{ req, res }` under node:http) to a `Response`. */
export type GraphQLHandler = (request: Request, serverContext: unknown) => Promise<Response>;

/** Reads a request header (a fetch `Headers` is one). */
export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * `POST /graphql` served past yoga's HTTP layer for the request every client sends: a UTF-8 JSON object `{ query,
 * variables?, operationName? }` with `Content-Type: application/json`, answered as `application/json` or
 * `application/graphql-response+json`. It runs yoga's own envelop - every plugin's parse, validate, context and
 * execute hooks: the document caches, the limits, error masking, the context factory - and renders the result with
 * yoga's `processRegularResult`, so the answer is yoga's byte for byte; what it skips is yoga's request pipeline around
 * them (server adapter, request parser, params and result processor hooks), about 45 % of a mutation's CPU.
 *
 * The returned function looks at a `POST`'s headers and body before anything is served: `undefined` for anything
 * else - a batch, `extensions`, an unexpected parameter, a body that is not UTF-8 or not JSON, another content type,
 * an `Accept` that asks for another media type - which yoga serves as before, from the start (its node adapter
 * streams what it streams). A document that does not parse or validate goes to yoga too: nothing has run yet, and the
 * answer is a regular one.
 *
 * A document seen before - one that parsed and validated through the envelop - runs without it: graphql-js' `execute`
 * (the executor the envelop is given, `graphqlJsExecution`) with the context the envelop would build (the initial
 * `{ request, params, ...serverContext }` extended by the face's `context`), its errors masked as yoga's
 * `maskedErrors` masks them. These are the only hooks of this gateway's plugins at context building and execution;
 * the envelop's per-request orchestration of them (its hook loops and promise helpers) was ~13 KB of garbage and a
 * tenth of the CPU of a mutation (README, "Performance"). `test/graphql/direct.test.ts` sends every request shape twice, so that both runs
 * answer as yoga does.
 */
export function directGraphQL(
  yoga: YogaServerInstance<{ request: Request }, GraphQLContext>,
  /** Masks an error, as yoga's `maskedErrors` does: thrown by execution, or in a result. */
  maskError: (error: unknown, message: string) => Error,
  /** The face's context, as yoga's `context` option gets it (src/graphql/server.ts). */
  context: (initial: { request: Request }) => GraphQLContext,
): (headers: HeaderReader, body: Uint8Array) => GraphQLHandler | undefined {
  const { fetchAPI, getEnveloped } = yoga;
  // Documents by their text that parsed and validated through the envelop (the schema and the rules are fixed, so they
  // pass again). yoga's validation cache would answer too, but first joins the names of every rule into its key, on
  // every request (~5 us of a mutation's CPU). Bounded as yoga's document cache is (a document over 16 KB is never kept).
  const known = documentCache<{ readonly document: DocumentNode; readonly schema: GraphQLSchema }>();
  const masked = (result: ExecutionResult): ExecutionResult =>
    result.errors === undefined
      ? result
      : { ...result, errors: result.errors.map((error) => maskError(error, UNEXPECTED) as GraphQLError) };
  return (headers, body) => {
    const direct = directRequestOf(headers, body);
    if (direct === undefined) return undefined;
    const { params, mediaType } = direct;
    const throughYoga = (request: Request, serverContext: object) =>
      yoga.fetch(
        new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, body: copyOf(body) }),
        serverContext,
      );
    return async (request, given) => {
      const serverContext = (given ?? {}) as object;
      const initial = { request, params, ...serverContext };
      const seen = known.get(params.query);
      let run: () => Promise<ExecutionResult>;
      if (seen === undefined) {
        const enveloped = getEnveloped(initial);
        let document: DocumentNode;
        try {
          document = enveloped.parse(params.query);
          // A limit may throw rather than report: either way yoga renders the refusal.
          if (enveloped.validate(enveloped.schema, document).length > 0) return throughYoga(request, serverContext);
        } catch {
          return throughYoga(request, serverContext);
        }
        known.set(params.query, { document, schema: enveloped.schema });
        run = async () =>
          (await enveloped.execute({
            schema: enveloped.schema,
            document,
            contextValue: await enveloped.contextFactory(),
            variableValues: params.variables,
            operationName: params.operationName,
          })) as ExecutionResult;
      } else {
        run = async () =>
          masked(
            await execute({
              schema: seen.schema,
              document: seen.document,
              contextValue: Object.assign(initial, context(initial)),
              variableValues: params.variables,
              operationName: params.operationName,
            }),
          );
      }
      let result: ExecutionResult;
      try {
        result = await run();
      } catch (error) {
        // As yoga's handler does with a thrown error: masked; a GraphQL error as it is.
        const masked = maskError(error, UNEXPECTED);
        result = {
          errors: [
            masked instanceof GraphQLError ? masked : createGraphQLError(masked.message, { originalError: masked }),
          ],
        };
      }
      // The schema has no subscriptions and no @defer/@stream: a result is never a stream here.
      return processRegularResult(result, fetchAPI, mediaType) as Promise<Response> | Response;
    };
  };
}

/** yoga's message for a masked error. */
const UNEXPECTED = "Unexpected error.";

/** The bytes in an ArrayBuffer of their own (what the fetch types take as a body). */
const copyOf = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes);

/**
 * What the direct path serves of a `POST /graphql` (its headers and body): the params and the media type of the
 * answer; `undefined`: yoga serves it.
 */
export function directRequestOf(
  headers: HeaderReader,
  body: Uint8Array,
): { readonly params: DirectParams; readonly mediaType: RegularMediaType } | undefined {
  const mediaType = regularMediaTypeOf(headers.get("accept"));
  if (mediaType === undefined || !isJson(headers.get("content-type"))) return undefined;
  const params = directParamsOf(body);
  return params === undefined ? undefined : { params, mediaType };
}

/** `Content-Type: application/json`, with or without parameters (yoga reads the first of a list). */
function isJson(contentType: string | null): boolean {
  const first = contentType?.split(",", 1)[0];
  return first === "application/json" || first?.startsWith("application/json;") === true;
}

/**
 * The media type yoga's result processors choose for a single result under this `Accept`, when it is one of the two
 * regular ones: the last UTF-8 entry, read from the end, that `application/graphql-response+json` or
 * `application/json` matches (no `Accept`: `*\/*`, which yoga answers as `application/json`). `undefined`: yoga would
 * answer otherwise (406, or a stream format), so yoga should.
 */
function regularMediaTypeOf(accept: string | null): RegularMediaType | undefined {
  const ranges = (accept || "*/*").replace(/\s/g, "").toLowerCase().split(",").reverse();
  let chosen: RegularMediaType | undefined;
  for (const range of ranges) {
    const [mediaType = "", ...parameters] = range.split(";");
    const charset = parameters.find((parameter) => parameter.includes("charset=")) ?? "charset=utf-8";
    if (charset !== "charset=utf-8") continue;
    for (const candidate of REGULAR_MEDIA_TYPES) if (matches(mediaType, candidate)) chosen = candidate;
  }
  return chosen;
}

const REGULAR_MEDIA_TYPES: readonly RegularMediaType[] = ["application/graphql-response+json", "application/json"];

const matches = (range: string, mediaType: string): boolean => {
  const [type, subtype] = mediaType.split("/");
  const [rangeType, rangeSubtype] = range.split("/");
  return (rangeType === "*" || rangeType === type) && (rangeSubtype === "*" || rangeSubtype === subtype);
};

/** The params of a body in the direct path's shape, else `undefined` (yoga decides what the body is). */
function directParamsOf(body: Uint8Array): DirectParams | undefined {
  if (!isUtf8(body)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const { query, variables, operationName, ...rest } = parsed as Record<string, unknown>;
  // yoga ignores members that are null, and refuses other unexpected ones (and `extensions` is not served here).
  if (Object.values(rest).some((value) => value !== null && value !== undefined)) return undefined;
  if (typeof query !== "string") return undefined;
  if (variables !== undefined && variables !== null && (typeof variables !== "object" || Array.isArray(variables)))
    return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") return undefined;
  return {
    query,
    ...(variables !== undefined && variables !== null && { variables: variables as Record<string, unknown> }),
    ...(typeof operationName === "string" && { operationName }),
  };
}
