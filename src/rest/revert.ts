import { createHash } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { Response } from "@whatwg-node/fetch";
import { DomainError, invalidRequest } from "../domain/errors.js";
import type { RevertService } from "../domain/revert.js";
import type { Logger } from "../logger.js";
import { readJsonBody } from "./body.js";
import { errorResponse, ok, responseForError } from "./responses.js";
import { revertBody } from "./schemas.js";

// The revert link of an identifier change notice (SPEC 5.4): `GET /userinfo/revert?token=` shows what it would undo
// and changes nothing; the page's form (or a JSON POST) undoes it. Plain HTML without scripts or external assets.

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}button{font:inherit;padding:.6rem 1.2rem;border:2px solid #1a1a1a;border-radius:.3rem;background:#fff;cursor:pointer}
button:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}.muted{color:#4a4a4a}`;

/** Only the inline style above, no script, no other origin; forms post to this origin only; no framing. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`,
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const WHAT = { email: "email address", phone_number: "phone number" } as const;

function page(status: number, title: string, body: string): Response {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`;
  // A copy: the Response may add to the object it is given (content-length), which would then be every page's.
  return new Response(html, { status, statusText: STATUS_CODES[status] ?? "", headers: { ...PAGE_HEADERS } });
}

const INVALID_PAGE = () =>
  page(
    400,
    "This link cannot be used",
    "<p>The link is unknown, was already used, or has expired. Nothing was changed.</p>",
  );

const errorPage = (error: unknown, log: Logger): Response => {
  if (error instanceof DomainError && error.code === "invalid_revert_token") return INVALID_PAGE();
  if (error instanceof DomainError && (error.code === "duplicate_email" || error.code === "duplicate_phone_number")) {
    const what = error.code === "duplicate_email" ? WHAT.email : WHAT.phone_number;
    return page(
      400,
      "The change cannot be undone yet",
      `<p>Another account uses this ${what} now, so it cannot be restored. Nothing was changed, and the link still works until it expires: try again once the ${what} is free, or contact support.</p>`,
    );
  }
  const response = responseForError(error, log);
  const failed = page(
    response.status,
    "Something went wrong",
    "<p>Nothing was changed. Please try again in a moment; the link still works until it expires.</p>",
  );
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter !== null) failed.headers.set("retry-after", retryAfter);
  return failed;
};

/**
 * The handler of `/userinfo/revert`. The token travels in the query string of the GET only (the request log never
 * shows query strings) and in the body of the POST.
 */
export function revertRoute(revert: RevertService, log: Logger) {
  return async (request: Request): Promise<Response> => {
    if (request.method === "GET") {
      const token = new URL(request.url).searchParams.get("token") ?? "";
      try {
        const preview = await revert.preview(token);
        const what = WHAT[preview.attribute];
        return page(
          200,
          `Undo the change of your ${what}?`,
          `<p>The ${what} of your account was changed to <strong>${escapeHtml(preview.replaced)}</strong>.</p>
<p>If you did not make this change, undo it: your ${what} becomes <strong>${escapeHtml(preview.restored)}</strong> again.</p>
<form method="post" action="revert">
<input type="hidden" name="revert_token" value="${escapeHtml(token)}">
<button type="submit">Undo this change</button>
</form>
<p class="muted">This link works once, until ${escapeHtml(preview.expiresAt.toUTCString())}. If you made the change yourself, close this page.</p>`,
        );
      } catch (error) {
        return errorPage(error, log);
      }
    }
    if (request.method !== "POST") {
      return errorResponse(405, "invalid_request", "Method not allowed; use GET, POST.", { allow: "GET, POST" });
    }
    const contentType = request.headers.get("content-type") ?? "";
    if (/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
      try {
        const token = new URLSearchParams(await request.text()).get("revert_token") ?? "";
        const result = await revert.revert(token);
        const what = WHAT[result.attribute];
        return page(
          200,
          `Your ${what} was restored`,
          `<p role="status">The ${what} of your account is <strong>${escapeHtml(result.restored)}</strong> again, and verified.</p>
<p class="muted">If someone else changed it, also change your password and sign out of other devices.</p>`,
        );
      } catch (error) {
        return errorPage(error, log);
      }
    }
    try {
      const body = revertBody.safeParse(await readJsonBody(request));
      if (!body.success) throw invalidRequest("The body must be a JSON object with a string revert_token.");
      const result = await revert.revert(body.data.revert_token);
      return ok(
        { sub: result.sub, attribute: result.attribute, restored: result.restored },
        { "cache-control": "no-store" },
      );
    } catch (error) {
      return responseForError(error, log);
    }
  };
}
