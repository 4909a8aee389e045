import type { ProfileAttribute } from "../../domain/attributes.js";
import { invalidRequest } from "../../domain/errors.js";
import type { IdentifierChange, JsonValue, UpdateCommand } from "../../domain/update-command.js";
import { builder } from "../builder.js";
import { idempotentMutation } from "../idempotent.js";
import {
  asResult,
  BadOtpError,
  BadOtpTokenError,
  DuplicateAddressError,
  IllegalParameterValueError,
  InvalidRequestError,
  MalformedAddressError,
  PreconditionFailedError,
  StepUpRequiredError,
  UserNotFoundError,
} from "./errors.js";
import { UserInfo, userInfoCodec } from "./user-info.js";

const PROFILE_FIELDS = ["name", "nickname", "zoneinfo", "locale"] as const;
const IDENTIFIER_FIELDS = {
  phoneNumber: { value: "phoneNumber", otpToken: "phoneNumberOtpToken", otp: "phoneNumberOtp" },
  email: { value: "email", otpToken: "emailOtpToken", otp: "emailOtp" },
} as const;
const STRING_FIELDS = [...PROFILE_FIELDS, ...Object.values(IDENTIFIER_FIELDS).flatMap((f) => Object.values(f))];

const UpdateUserInfoInput = builder.inputType("UpdateUserInfoInput", {
  description:
    "The attributes to change, as in `PATCH /userinfo`. An omitted field is left alone; null removes name, nickname, " +
    "zoneinfo or locale. `phoneNumber` and `email` need their OTP token and code.",
  fields: (t) => ({
    ...(Object.fromEntries(STRING_FIELDS.map((field) => [field, t.string({ required: false })])) as Record<
      (typeof STRING_FIELDS)[number],
      ReturnType<typeof t.string>
    >),
    customAttributes: t.field({
      type: "JSON",
      required: false,
      description: "Operator-defined attributes by name; null as a value removes one.",
    }),
    ifVersion: t.int({
      required: false,
      description:
        "Change only if the profile is still at this `version` (`If-Match`); else PreconditionFailedError, and " +
        "nothing is changed or counted.",
    }),
    idempotencyKey: t.string({
      required: false,
      description:
        "1..255 visible ASCII characters. A repeat with the same key and input gets the first result and changes " +
        "nothing (`Idempotency-Key`).",
    }),
  }),
});

type Input = Readonly<Record<string, unknown>>;

/** The input as the domain's {@link UpdateCommand}: the same command `PATCH /userinfo` decodes its body into. */
export function updateCommandOf(input: Input): UpdateCommand {
  const given = (field: string) => Object.hasOwn(input, field);
  const profile: Partial<Record<ProfileAttribute, string | null>> = {};
  for (const field of PROFILE_FIELDS) if (given(field)) profile[field] = input[field] as string | null;
  const identifier = (
    fields: (typeof IDENTIFIER_FIELDS)[keyof typeof IDENTIFIER_FIELDS],
  ): IdentifierChange | undefined => {
    const change: Record<string, string | null> = {};
    for (const [part, field] of Object.entries(fields)) if (given(field)) change[part] = input[field] as string | null;
    return Object.keys(change).length === 0 ? undefined : change;
  };
  const phoneNumber = identifier(IDENTIFIER_FIELDS.phoneNumber);
  const email = identifier(IDENTIFIER_FIELDS.email);
  return {
    profile,
    custom: customAttributesOf(input.customAttributes),
    ...(phoneNumber && { phoneNumber }),
    ...(email && { email }),
  };
}

/** The `customAttributes` JSON as attributes by name; any name is passed on (the domain knows which exist). */
function customAttributesOf(value: unknown): ReadonlyMap<string, JsonValue> {
  if (value === undefined || value === null) return new Map();
  if (typeof value !== "object" || Array.isArray(value)) {
    throw invalidRequest("customAttributes must be an object.", "custom_attributes");
  }
  return new Map(Object.entries(value as Record<string, JsonValue>));
}

builder.mutationField("updateUserInfo", (t) =>
  t.field({
    type: UserInfo,
    description: "Updates the signed-in user's profile with the rules of `PATCH /userinfo`.",
    args: { input: t.arg({ type: UpdateUserInfoInput, required: true }) },
    errors: {
      union: { name: "UpdateUserInfoResult" },
      types: [
        InvalidRequestError,
        MalformedAddressError,
        IllegalParameterValueError,
        BadOtpTokenError,
        BadOtpError,
        DuplicateAddressError,
        UserNotFoundError,
        PreconditionFailedError,
        StepUpRequiredError,
      ],
    },
    resolve: async (_root, { input }, ctx) => {
      const principal = await ctx.principal();
      const options = typeof input.ifVersion === "number" ? { ifVersion: [input.ifVersion] } : {};
      return asResult(() =>
        idempotentMutation(
          ctx.idempotency,
          "updateUserInfo",
          principal,
          input,
          (key) => ctx.userInfo.updateUserInfo(principal, updateCommandOf(input), { ...options, ...(key && { key }) }),
          userInfoCodec,
        ),
      );
    },
  }),
);
