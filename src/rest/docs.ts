import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Response } from "@whatwg-node/fetch";

// `GET /docs`: Swagger UI rendering `/openapi.json`, its assets read from the swagger-ui-dist package in node_modules
// (no CDN). The package stays out of the esbuild bundle: dist/ runs resolve it from node_modules like any dependency.

/** Where the page's assets are served. */
const ASSETS = "/docs/assets";

const FILES = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
} as const;

const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false,
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>userinfo-bff API reference</title>
<link rel="icon" type="image/png" href="${ASSETS}/favicon-32x32.png">
<link rel="stylesheet" href="${ASSETS}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${ASSETS}/swagger-ui-bundle.js"></script>
<script src="${ASSETS}/init.js"></script>
</body>
</html>
`;

// Scripts from this origin only; Swagger UI sets inline styles and shows data: images.
const PAGE_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; " +
  "base-uri 'none'; frame-ancestors 'none'";

type Handler = (request: Request) => Promise<Response>;

const answer = (body: string | Uint8Array<ArrayBuffer>, contentType: string, headers: Record<string, string> = {}) =>
  new Response(body, { status: 200, statusText: "OK", headers: { "content-type": contentType, ...headers } });

/** The directory of the installed swagger-ui-dist package. */
const swaggerUiDirectory = (): string =>
  dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

/**
 * The routes of the API reference page: `/docs` and its assets under `/docs/assets/`, each answering `GET` only
 * (else `methodNotAllowed`). Asset files are read on first use and kept in memory.
 */
export function apiDocsRoutes(methodNotAllowed: (allow: string) => Response): Map<string, Handler> {
  const routes = new Map<string, Handler>();
  const get =
    (serve: () => Promise<Response>): Handler =>
    async (request) =>
      request.method === "GET" || request.method === "HEAD" ? serve() : methodNotAllowed("GET");
  routes.set(
    "/docs",
    get(async () => answer(PAGE, "text/html; charset=utf-8", { "content-security-policy": PAGE_POLICY })),
  );
  routes.set(
    `${ASSETS}/init.js`,
    get(async () => answer(INIT_SCRIPT, "text/javascript; charset=utf-8")),
  );
  for (const [file, contentType] of Object.entries(FILES)) {
    let content: Promise<Uint8Array<ArrayBuffer>> | undefined;
    routes.set(
      `${ASSETS}/${file}`,
      get(async () => {
        content ??= readFile(join(swaggerUiDirectory(), file))
          .then((bytes) => Uint8Array.from(bytes))
          .catch((error: unknown) => {
            content = undefined;
            throw error;
          });
        return answer(await content, contentType, { "cache-control": "public, max-age=86400" });
      }),
    );
  }
  return routes;
}
