import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from "node:crypto";

/** Where OTP tokens and codes come from; injected so tests can choose them. */
export interface OtpRandom {
  /** An opaque, unguessable token (256 bits). */
  token(): string;
  /** A 6-digit code. */
  code(): string;
}

/** Cryptographic randomness from node:crypto. */
export const cryptoRandom: OtpRandom = {
  token: () => randomBytes(32).toString("base64url"),
  code: () => randomInt(0, 1_000_000).toString().padStart(6, "0"),
};

/** The stored form of an OTP token: its SHA-256 (the token itself has 256 bits of entropy). */
export const hashOtpToken = (token: string): string => createHash("sha256").update(token).digest("hex");

/**
 * The stored form of a code: an HMAC keyed by its token, so that a leaked table does not let anyone try the
 * million possible codes without also holding the token, which is stored only as a hash.
 */
export const hashOtpCode = (token: string, code: string): string =>
  createHmac("sha256", token).update(code).digest("hex");

/** Compares a submitted code with the stored hash in constant time. */
export function otpCodeMatches(token: string, code: string, codeHash: string): boolean {
  const expected = Buffer.from(codeHash, "hex");
  const actual = Buffer.from(hashOtpCode(token, code), "hex");
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
