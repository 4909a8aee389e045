import { isReservedAttributeName } from "../../domain/attributes.js";
import { invalidRequest } from "../../domain/errors.js";
import { builder } from "../builder.js";
import {
  asResult,
  BadOtpError,
  BadOtpTokenError,
  DuplicateAddressError,
  IllegalParameterValueError,
  InvalidRequestError,
  MalformedAddressError,
  UserNotFoundError,
} from "./errors.js";
import { UserInfo } from "./user-info.js";

/** Input fields and the REST attribute each stands for. */
const ATTRIBUTES = {
  phoneNumber: "phone_number",
  phoneNumberOtpToken: "phone_number_otp_token",
  phoneNumberOtp: "phone_number_otp",
  email: "email",
  emailOtpToken: "email_otp_token",
  emailOtp: "email_otp",
  name: "name",
  nickname: "nickname",
  zoneinfo: "zoneinfo",
  locale: "locale",
} as const;

const UpdateUserInfoInput = builder.inputType("UpdateUserInfoInput", {
  description:
    "The attributes to change, as in `PATCH /userinfo`. An omitted field is left alone; null removes name, nickname, " +
    "zoneinfo or locale. `phoneNumber` and `email` need their OTP token and code.",
  fields: (t) => ({
    ...(Object.fromEntries(Object.keys(ATTRIBUTES).map((field) => [field, t.string({ required: false })])) as Record<
      keyof typeof ATTRIBUTES,
      ReturnType<typeof t.string>
    >),
    customAttributes: t.field({
      type: "JSON",
      required: false,
      description: "Operator-defined attributes by name; null as a value removes one.",
    }),
  }),
});

/**
 * The REST body an input stands for: the same keys, so that one parser applies every rule. A custom attribute named
 * like a built-in one stays unknown rather than becoming that built-in.
 */
export function restBodyOf(input: Record<string, unknown>): Record<string, unknown> {
  // No prototype: a custom attribute named "__proto__" stays a key (and unknown).
  const body: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [field, attribute] of Object.entries(ATTRIBUTES)) {
    if (Object.hasOwn(input, field)) body[attribute] = input[field];
  }
  const custom = input.customAttributes;
  if (custom === undefined || custom === null) return body;
  if (typeof custom !== "object" || Array.isArray(custom)) {
    throw invalidRequest("customAttributes must be an object.", "custom_attributes");
  }
  for (const [name, value] of Object.entries(custom)) {
    body[isReservedAttributeName(name) ? `customAttributes.${name}` : name] = value;
  }
  return body;
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
      ],
    },
    resolve: async (_root, { input }, ctx) => {
      const principal = await ctx.principal();
      return asResult(() => ctx.userInfo.updateUserInfo(principal, restBodyOf(input as Record<string, unknown>)));
    },
  }),
);
