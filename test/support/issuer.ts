import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, SignJWT } from "jose";

/** An issuer of the tests' own: an ES256 key, its public JWKS (also written to a file), and tokens signed with it. */
export interface TestIssuer {
  readonly issuer: string;
  readonly jwks: JSONWebKeySet;
  /** The JWKS written to `dir/jwks.json`, for AUTH_JWKS_FILE. */
  readonly jwksFile: string;
  token(sub: string): Promise<string>;
}

export async function createTestIssuer(dir: string, issuer = "https://issuer.test"): Promise<TestIssuer> {
  const pair = await generateKeyPair("ES256", { extractable: true });
  const key: CryptoKey = pair.privateKey;
  const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "test-key", alg: "ES256", use: "sig" }] };
  const jwksFile = join(dir, "jwks.json");
  writeFileSync(jwksFile, JSON.stringify(jwks));
  return {
    issuer,
    jwks,
    jwksFile,
    async token(sub) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ scope: "openid profile", client_id: "web" })
        .setProtectedHeader({ alg: "ES256", kid: "test-key" })
        .setSubject(sub)
        .setIssuer(issuer)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(key);
    },
  };
}
