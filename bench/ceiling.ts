// The fair ceilings: the least a gateway must do for PATCH /userinfo (nickname) or GET /userinfo, doing exactly the
// gateway's database work with the gateway's token cache - node:http, the gateway's own bearer verifier (jose ES256,
// issuer, expiry and `openid` checks, verified tokens cached by SHA-256 exactly as the gateway caches them), the
// gateway's own query module on the gateway's own pg pool and executor (so the statement is the gateway's, byte for
// byte, prepared as the gateway prepares it: for a write, the insert-or-update ... RETURNING with its audit insert in
// one statement; for a read, the SELECT by key), and a small JSON answer. What the gateway spends beyond this is its
// own overhead: HTTP adapter, routing, validation, claims rendering, logging, metrics.
// Run by bench/run.ts as its own process (node --import tsx): MODE (write | read), PORT, DATABASE_URL, JWKS_FILE,
// ISSUER, POOL_SIZE, TOKEN_CACHE_SIZE.
import { createServer, type ServerResponse } from "node:http";
import { createBearerVerifier, fileKeys } from "../src/auth/bearer.js";
import { connectDatabase } from "../src/persistence/database.js";
import { userQueries } from "../src/persistence/queries/users.js";

const env = process.env;
// The gateway's own pool and executor (src/persistence/database.ts): its statements prepared as the gateway's are.
const users = userQueries(connectDatabase(env.DATABASE_URL!, Number(env.POOL_SIZE ?? 10)).executor);
const verifyBearer = createBearerVerifier({
  keys: fileKeys(env.JWKS_FILE!),
  issuer: env.ISSUER!,
  audience: undefined,
  clock: { now: () => new Date() },
  cacheSize: Number(env.TOKEN_CACHE_SIZE ?? 10_000),
});
const write = env.MODE !== "read";

const send = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
};

createServer(async (req, res) => {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const principal = await verifyBearer(req.headers.authorization ?? null);
    let user: Awaited<ReturnType<typeof users.find>>;
    if (write) {
      const { nickname } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { nickname: string };
      const now = new Date();
      user = await users.write(
        principal.sub,
        { profile: { nickname }, customSet: {}, customUnset: [], updatedAt: now },
        // As the gateway runs it by default: just-in-time provisioning on, the audit record and the change event of
        // a nickname change.
        {
          createIfMissing: true,
          audit: { clientId: principal.clientId, attributes: ["nickname"], changes: { nickname } },
          outbox: { changed: ["nickname"], notices: [] },
        },
      );
    } else user = await users.find(principal.sub);
    if (user === null) return send(res, 404, { error: "user_not_found" });
    send(res, 200, {
      sub: user.sub,
      ...(user.nickname === null ? {} : { nickname: user.nickname }),
      updated_at: Math.floor(user.updatedAt.getTime() / 1000),
    });
  } catch (error) {
    send(res, 500, { error: "server_error", message: String(error) });
  }
}).listen(Number(env.PORT), "127.0.0.1", () => process.send?.("listening"));
// Exits on SIGTERM through process.exit, so that a `--cpu-prof` profile of the ceiling is written.
process.once("SIGTERM", () => process.exit(0));
