import { randomBytes } from "node:crypto";
import { DomainError } from "../domain/errors.js";
import type { ApplicationRepository, Clock } from "../domain/ports.js";
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

/**
 * Checks an application's credentials, sent from `address`; resolves to its client id.
 * @throws DomainError `invalid_client`, or `too_many_requests` while failures from that client id or address are
 *   throttled
 */
export type ClientAuthenticator = (credentials: ClientCredentials, address?: string) => Promise<string>;

/** How many failed authentications are tolerated per client id and per address, in a sliding window. */
export interface FailureThrottle {
  readonly perClient: number;
  readonly perAddress: number;
  readonly windowSeconds: number;
}

/**
 * The defaults: a client that fails 10 times a minute, or an address that fails 20 times, waits until the oldest
 * failure leaves the minute. Each failure costs a scrypt hash (~50 ms of CPU); these bound that cost per attacker.
 */
export const DEFAULT_FAILURE_THROTTLE: FailureThrottle = { perClient: 10, perAddress: 20, windowSeconds: 60 };

/** The most keys (client ids and addresses) whose failures are remembered; the oldest are forgotten first. */
const MAX_TRACKED_KEYS = 50_000;

/**
 * Creates the {@link ClientAuthenticator}: the secret against its scrypt hash, in constant time, after a throttle
 * of recent failures (kept in this process: it protects this process's CPU, and secrets are long random strings).
 */
export function createClientAuthenticator({
  applications,
  clock,
  throttle = DEFAULT_FAILURE_THROTTLE,
}: {
  applications: ApplicationRepository;
  clock: Clock;
  throttle?: FailureThrottle;
}): ClientAuthenticator {
  // Unknown clients are checked against this hash, so that timing does not tell which client ids exist.
  let decoy: Promise<string> | undefined;
  const failures = new Map<string, number[]>();
  const windowMs = throttle.windowSeconds * 1000;

  /** The failures of `key` still in the window (oldest first). */
  const recent = (key: string, now: number): number[] => {
    const times = (failures.get(key) ?? []).filter((t) => t > now - windowMs);
    if (times.length === 0) failures.delete(key);
    else failures.set(key, times);
    return times;
  };
  const retryAfter = (times: number[], max: number, now: number) =>
    times.length >= max ? Math.max(1, Math.ceil((times[times.length - max]! + windowMs - now) / 1000)) : 0;
  const record = (key: string, now: number) => {
    const times = failures.get(key) ?? [];
    failures.delete(key);
    // Re-inserted last: the map's order is the order of the latest failure, and the stalest key goes first.
    failures.set(key, [...times, now]);
    if (failures.size > MAX_TRACKED_KEYS) failures.delete(failures.keys().next().value!);
  };

  const forget = (key: string, at: number) => {
    const times = failures.get(key);
    const index = times?.indexOf(at) ?? -1;
    if (index >= 0) times!.splice(index, 1);
  };

  return async ({ clientId, secret }, address) => {
    const now = clock.now().getTime();
    const clientKey = `client:${clientId}`;
    const addressKey = address === undefined ? undefined : `ip:${address}`;
    const wait = Math.max(
      retryAfter(recent(clientKey, now), throttle.perClient, now),
      addressKey === undefined ? 0 : retryAfter(recent(addressKey, now), throttle.perAddress, now),
    );
    if (wait > 0) throw new DomainError("too_many_requests", { retryAfterSeconds: wait });
    // Counted as a failure until it succeeds: a burst of concurrent attempts is bounded like a sequence of them.
    const keys = addressKey === undefined ? [clientKey] : [clientKey, addressKey];
    for (const key of keys) record(key, now);
    const application = await applications.find(clientId);
    decoy ??= hashClientSecret(randomBytes(16).toString("hex"));
    const stored = application?.secretHash ?? (await decoy);
    const matches = await clientSecretMatches(secret, stored);
    if (application?.secretHash == null || !matches) throw new DomainError("invalid_client");
    for (const key of keys) forget(key, now);
    return clientId;
  };
}
