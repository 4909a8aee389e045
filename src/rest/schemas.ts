import { z } from "zod";
import type { ProfileAttribute } from "../domain/attributes.js";
import { OTP_USAGES } from "../domain/otp/challenges.js";

// The Tencent CIAM wire format as zod schemas: the request bodies `decode.ts` sorts keys and JSON types by, and every
// body and header the OpenAPI description (`openapi.ts`) shows. The schemas hold JSON types only; the rules about
// values (formats, lengths, the order of failures) are the domain's and appear here as descriptions.

const JSON_TYPE_ONLY = "Values are checked by the gateway's rules, not by this schema: see the description.";

/** The profile attributes of `PATCH /userinfo`: a string, or `null` to remove it. */
export const profileFields = {
  name: z
    .string()
    .nullable()
    .meta({
      description: "1..64 Unicode characters after trimming, no control characters; null removes it.",
      examples: ["Ada Lovelace"],
    }),
  nickname: z
    .string()
    .nullable()
    .meta({
      description: "1..64 Unicode characters after trimming, no control characters; null removes it.",
      examples: ["MOCK_NICKNAME"],
    }),
  zoneinfo: z
    .string()
    .nullable()
    .meta({
      description:
        "An IANA time zone (`Asia/Shanghai`), stored in its usual case; `posixrules`, `localtime`, `Factory`, " +
        "`posix/*` and `right/*` are refused. null removes it.",
      examples: ["Asia/Shanghai"],
    }),
  locale: z
    .string()
    .nullable()
    .meta({
      description: "A BCP 47 tag (`zh-CN`); `en_US` is accepted and stored as `en-US`. null removes it.",
      examples: ["en-US"],
    }),
} satisfies Record<ProfileAttribute, z.ZodType>;

const otpToken = (channel: string) =>
  z
    .string()
    .meta({ description: `The \`otp_token\` of \`POST /otp/send\` (usage \`update_userinfo\`) to the ${channel}.` });
const otpCode = (channel: string) =>
  z.string().meta({ description: `The 6-digit code delivered to the ${channel}.`, examples: ["482913"] });

/** The verified attributes of `PATCH /userinfo` and their OTP companions (all three together, never `null`). */
export const identifierFields = {
  phone_number: z.string().meta({
    description:
      "A mainland China mobile number (`1[3-9]` + 9 digits); `+86`, `0086`, spaces and dashes are removed. " +
      "Needs `phone_number_otp_token` and `phone_number_otp`.",
    examples: ["13800138000"],
  }),
  phone_number_otp_token: otpToken("phone number"),
  phone_number_otp: otpCode("phone number"),
  email: z.string().meta({
    description:
      "`local@domain` (a dot-atom local part of at most 64 characters, at most 254 in all). " +
      "Needs `email_otp_token` and `email_otp`.",
    examples: ["alice@example.com"],
  }),
  email_otp_token: otpToken("email"),
  email_otp: otpCode("email"),
};

/** A custom attribute's value as sent: its type is the operator's definition; `null` removes it. */
const customAttributeValue = z
  .union([z.string(), z.number(), z.boolean(), z.null()])
  .meta({ description: "An operator-defined attribute (string, number or boolean, as defined); null removes it." });

/** The body of `PATCH /userinfo`. */
export const updateUserInfoBody = z
  .object({ ...profileFields, ...identifierFields })
  .partial()
  .catchall(customAttributeValue)
  .meta({
    id: "UpdateUserInfoRequest",
    description:
      "The attributes to change; an omitted attribute is left alone. Other keys are operator-defined custom " +
      "attributes; read-only claims (`sub`, `email_verified`, `updated_at`, ...) are refused as unsupported, " +
      `unknown keys as unknown. ${JSON_TYPE_ONLY}`,
    examples: [{ nickname: "MOCK_NICKNAME", locale: "en_US", zoneinfo: "Asia/Shanghai" }],
  });

/** The body of `POST /otp/send`. */
export const sendOtpBody = z
  .object({
    usage: z.string().meta({
      description: "What the code is for; with a user's access token only `update_userinfo`.",
      enum: [...OTP_USAGES],
      default: "login",
    }),
    phone_number: z.string().meta({ description: "Where to send an SMS code (normalized as in `PATCH /userinfo`)." }),
    email: z.string().meta({ description: "Where to send an email code." }),
  })
  .partial()
  .meta({
    id: "SendOtpRequest",
    description: `Exactly one of \`phone_number\` and \`email\`. ${JSON_TYPE_ONLY}`,
    examples: [{ usage: "update_userinfo", email: "alice@example.com" }],
  });

/** The answer of `GET` and `PATCH /userinfo`: the claims the application may read, absent ones omitted. */
export const claimsBody = z
  .object({
    sub: z.string().meta({ description: "The user's subject identifier." }),
    name: z.string().optional(),
    nickname: z.string().optional(),
    email: z.string().optional(),
    email_verified: z.boolean().optional().meta({ description: "True when the email was proven by OTP." }),
    zoneinfo: z.string().optional(),
    locale: z.string().optional(),
    phone_number: z.string().optional().meta({ description: "The bare 11 digits." }),
    phone_number_verified: z.boolean().optional().meta({ description: "True when the number was proven by OTP." }),
    updated_at: z.int().optional().meta({ description: "Seconds since the epoch." }),
  })
  .catchall(z.union([z.string(), z.number(), z.boolean()]).meta({ description: "A readable custom attribute." }))
  .meta({
    id: "Claims",
    description:
      "The OIDC claims of the profile the calling application may read (its claims list): `sub` always, claims " +
      "without a value omitted, then readable custom attributes.",
    examples: [
      { sub: "alice", nickname: "MOCK_NICKNAME", zoneinfo: "Asia/Shanghai", locale: "en-US", updated_at: 1795879421 },
    ],
  });

/** The answer of `POST /otp/send`. */
export const otpTokenBody = z
  .object({
    otp_token: z.string().meta({ description: "Opaque; valid 5 minutes, single use. Send it back with the code." }),
  })
  .meta({ id: "OtpToken" });

/** The body of `POST /userinfo/revert`: JSON, or the revert page's form (`application/x-www-form-urlencoded`). */
export const revertBody = z
  .object({
    revert_token: z.string().meta({ description: "The `token` of the notice's revert link." }),
  })
  .meta({ id: "RevertRequest" });

/** The answer of `POST /userinfo/revert` (JSON). */
export const revertedBody = z
  .object({
    sub: z.string().meta({ description: "The user whose identifier was restored." }),
    attribute: z.enum(["email", "phone_number"]),
    restored: z.string().meta({ description: "The restored value, masked (`a***@example.com`), verified again." }),
  })
  .meta({ id: "Reverted", examples: [{ sub: "alice", attribute: "email", restored: "a***@example.com" }] });

/** A Tencent CIAM error body whose `error` is one of `codes`. */
export const tencentErrorBody = (codes: readonly [string, ...string[]]) =>
  z.object({
    error: z.enum(codes),
    error_description: z.string().optional().meta({ description: "A human-readable explanation, where there is one." }),
  });

/** The URI in an RFC 9457 problem's `type` for a REST error code. */
export const problemType = (code: string): string => `urn:userinfo-bff:error:${code}`;

/** An RFC 9457 problem details body (`Accept: application/problem+json`) whose `error` is one of `codes`. */
export const problemBody = (codes: readonly [string, ...string[]], status: number) =>
  z.object({
    type: z
      .enum(codes.map(problemType) as [string, ...string[]])
      .meta({ description: "`urn:userinfo-bff:error:<error>`." }),
    title: z.string().meta({ description: "A short summary of the error code." }),
    status: z.literal(status),
    detail: z.string().meta({ description: "What went wrong with this request." }),
    error: z.enum(codes).meta({ description: "The Tencent CIAM error code (extension member)." }),
    error_description: z
      .string()
      .meta({ description: "The Tencent CIAM `error_description` (extension member; `detail` again)." }),
  });

/** Response and request headers of the REST face, for the OpenAPI description. */
export const headers = {
  wwwAuthenticate: z.string().meta({
    description:
      'The RFC 6750 challenge: `Bearer error="<code>", error_description="...", error_uri="..."` ' +
      "(`insufficient_user_authentication` adds `max_age=<seconds>`); `Basic` for `invalid_client`.",
    examples: [
      'Bearer error="invalid_token", error_description="Error decoding JWT", error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"',
    ],
  }),
  retryAfter: z.string().regex(/^\d+$/).meta({ description: "Seconds to wait before retrying." }),
  etag: z
    .string()
    .regex(/^"\d+"$/)
    .meta({ description: 'The profile\'s version as a strong entity tag: `"<version>"`.', examples: ['"3"'] }),
  idempotentReplayed: z.literal("true").meta({
    description: "Present when this answer is the kept answer of an earlier request with the same `Idempotency-Key`.",
  }),
  allow: z.string().meta({ description: "The methods the path accepts." }),
  cacheControl: z.string(),
  ifMatch: z.string().meta({
    description:
      'Entity tags (`"3"`, `"3", "4"`) or `*`: the update applies only when the profile\'s current `ETag` matches; ' +
      "else `412 precondition_failed` and nothing changes.",
    examples: ['"3"'],
  }),
  ifNoneMatch: z.string().meta({
    description: "Entity tags or `*`: when the current `ETag` matches, `304 Not Modified` without a body.",
    examples: ['"3"'],
  }),
  idempotencyKey: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/)
    .meta({
      description:
        "1..255 visible ASCII characters. A repeat with the same key and body answers the kept response (plus " +
        "`Idempotent-Replayed: true`) and does nothing else; kept 24 hours unless the status was 5xx.",
      examples: ["9b2f6c1e-5a1d-4b8e-8f57-2f4a0c1b7d3e"],
    }),
};
