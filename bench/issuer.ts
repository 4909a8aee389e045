import { writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";

// What the benchmarks share: the issuer of their tokens and a free port to start a server on.

/** The `iss` of the benchmarks' tokens (AUTH_ISSUER of the gateways they start). */
export const ISSUER = "https://issuer.bench";

/** A TCP port nothing listens on now. */
export const freePort = () =>
  new Promise<number>((done) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });

/** An ES256 issuer whose public keys are in `dir/jwks.json` (AUTH_JWKS_FILE), and the private key that signs. */
export async function createBenchIssuer(dir: string): Promise<{ jwksFile: string; privateKey: CryptoKey }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwksFile = join(dir, "jwks.json");
  writeFileSync(
    jwksFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256", use: "sig" }] }),
  );
  return { jwksFile, privateKey };
}

/** ES256 tokens for `subs`, as the issuer would sign them (scope openid, client `bench`, two hours long). */
export function signTokens(privateKey: CryptoKey, subs: readonly string[]): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  return Promise.all(
    subs.map((sub) =>
      new SignJWT({ scope: "openid profile email", client_id: "bench" })
        .setProtectedHeader({ alg: "ES256", kid: "bench" })
        .setSubject(sub)
        .setIssuer(ISSUER)
        .setIssuedAt(now)
        .setExpirationTime(now + 7200)
        .sign(privateKey),
    ),
  );
}
