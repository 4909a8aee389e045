import { randomBytes } from "node:crypto";
import { DomainError } from "../domain/errors.js";
import type { ApplicationRepository } from "../domain/ports.js";
import { clientSecretMatches, hashClientSecret } from "./client-secrets.js";

/** An application's credentials, as sent with `Authorization: Basic`. */
export interface ClientCredentials {
  readonly clientId: string;
  readonly secret: string;
}

/**
 * The credentials of an `Authorization: Basic` header: `base64(urlencode(client_id) ":" urlencode(secret))`
 * (RFC 6749 2.3.1), or `undefined` for another scheme.
 * @throws DomainError `invalid_client` when the header cannot be decoded
 */
export function basicCredentials(authorization: string | null): ClientCredentials | undefined {
  const match = /^Basic[ \t]+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization?.trim() ?? "");
  if (match === null) {
    if (/^Basic(\s|$)/i.test(authorization?.trim() ?? "")) throw new DomainError("invalid_client");
    return undefined;
  }
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new DomainError("invalid_client");
  try {
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new DomainError("invalid_client");
  }
}

/** Checks an application's credentials; resolves to its client id. @throws DomainError `invalid_client` */
export type ClientAuthenticator = (credentials: ClientCredentials) => Promise<string>;

/** Creates the {@link ClientAuthenticator}: the secret against its scrypt hash, in constant time. */
export function createClientAuthenticator({ applications }: { applications: ApplicationRepository }): ClientAuthenticator {
  // Unknown clients are checked against this hash, so that timing does not tell which client ids exist.
  let decoy: Promise<string> | undefined;
  return async ({ clientId, secret }) => {
    const application = await applications.find(clientId);
    decoy ??= hashClientSecret(randomBytes(16).toString("hex"));
    const stored = application?.secretHash ?? (await decoy);
    const matches = await clientSecretMatches(secret, stored);
    if (application?.secretHash == null || !matches) throw new DomainError("invalid_client");
    return clientId;
  };
}
