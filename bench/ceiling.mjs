// The old reference ceiling, kept for comparison with earlier runs: node:http, jose ES256 verification on every
// request (no token cache) with the issuer and openid checks, one bare UPDATE ... RETURNING through pg (no audit
// record), a JSON answer. Run by bench/run.ts as its own process: PORT, DATABASE_URL, JWKS_FILE, ISSUER, POOL_SIZE.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createLocalJWKSet, jwtVerify } from "jose";
import pg from "pg";

const keys = createLocalJWKSet(JSON.parse(readFileSync(process.env.JWKS_FILE, "utf8")));
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 10) });

const send = (res, status, body) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
};

createServer(async (req, res) => {
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (token === undefined) return send(res, 400, { error: "invalid_request" });
    const { payload } = await jwtVerify(token, keys, { issuer: process.env.ISSUER, algorithms: ["ES256"] });
    if (!String(payload.scope).split(" ").includes("openid")) return send(res, 403, { error: "insufficient_scope" });
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    const { rows } = await pool.query(
      "UPDATE users SET nickname = $1, version = version + 1, updated_at = now() WHERE sub = $2 RETURNING *",
      [body.nickname, payload.sub],
    );
    const user = rows[0];
    send(res, 200, {
      sub: user.sub,
      nickname: user.nickname,
      updated_at: Math.floor(user.updated_at.getTime() / 1000),
    });
  } catch (error) {
    send(res, 500, { error: "server_error", message: String(error) });
  }
}).listen(Number(process.env.PORT), "127.0.0.1", () => process.send?.("listening"));
