import type { UserChanges } from "./ports.js";

/** `alice@example.com` -> `a***@example.com`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  return `${email.slice(0, Math.min(1, at))}***${email.slice(at)}`;
}

/** `13800138000` -> `138****8000`. */
export const maskPhoneNumber = (phone: string): string => `${phone.slice(0, 3)}****${phone.slice(-4)}`;

/** What the audit trail records of one change. */
export interface AuditRecord {
  /** The application the change came from. */
  readonly clientId: string | null;
  /** The attributes changed, in REST spelling. */
  readonly attributes: readonly string[];
  /** Their new values (`null`: removed); email and phone number masked. */
  readonly changes: Readonly<Record<string, unknown>>;
}

/** The audit record of `changes`, made by the application `clientId`. */
export function auditRecordOf(changes: UserChanges, clientId: string | null): AuditRecord {
  const recorded: Record<string, unknown> = {};
  if (changes.phoneNumber !== undefined) recorded.phone_number = maskPhoneNumber(changes.phoneNumber);
  if (changes.email !== undefined) recorded.email = maskEmail(changes.email);
  Object.assign(recorded, changes.profile, changes.customSet);
  for (const name of changes.customUnset) recorded[name] = null;
  return { clientId, attributes: Object.keys(recorded), changes: recorded };
}
