import type { Claim } from "../../domain/idempotency.js";
import { OTP_USAGES } from "../../domain/otp/challenges.js";
import type { SendOtpCommand } from "../../domain/otp/send-otp.js";
import { builder } from "../builder.js";
import { idempotentMutation, type ResultCodec } from "../idempotent.js";
import {
  asResult,
  DeliveryFailedError,
  InvalidRequestError,
  MalformedAddressError,
  RateLimitExceededError,
} from "./errors.js";

const OtpUsage = builder.enumType("OtpUsage", {
  description: "What a code is for. `updateUserInfo` accepts UPDATE_USERINFO codes only.",
  values: Object.fromEntries(OTP_USAGES.map((usage) => [usage.toUpperCase(), { value: usage }])) as Record<
    Uppercase<(typeof OTP_USAGES)[number]>,
    { value: (typeof OTP_USAGES)[number] }
  >,
});

const SendOtpInput = builder.inputType("SendOtpInput", {
  description: "Where to send a code: exactly one of phoneNumber and email.",
  fields: (t) => ({
    usage: t.field({
      type: OtpUsage,
      required: false,
      defaultValue: "update_userinfo",
      description: "With a user access token only UPDATE_USERINFO is allowed.",
    }),
    phoneNumber: t.string({ required: false }),
    email: t.string({ required: false }),
    idempotencyKey: t.string({
      required: false,
      description:
        "1..255 visible ASCII characters. A repeat with the same key and input gets the first result and sends " +
        "nothing (`Idempotency-Key`).",
    }),
  }),
});

const OTP_TOKEN: ResultCodec<{ otpToken: string }> = {
  encode: (value) => value,
  decode: (kept) => kept as { otpToken: string },
};

const SendOtpSuccess = builder.objectRef<{ otpToken: string }>("SendOtpSuccess").implement({
  description: "The code is on its way; submit this token with it.",
  fields: (t) => ({ otpToken: t.exposeString("otpToken") }),
});

builder.mutationField("sendOtp", (t) =>
  t.field({
    type: SendOtpSuccess,
    description:
      "Sends a 6-digit code to a new phone number or email of the signed-in user (`POST /otp/send`, Bearer form).",
    args: { input: t.arg({ type: SendOtpInput, required: true }) },
    errors: {
      union: { name: "SendOtpResult" },
      types: [InvalidRequestError, MalformedAddressError, RateLimitExceededError, DeliveryFailedError],
    },
    resolve: async (_root, { input }, ctx) => {
      const principal = await ctx.principal();
      const command: SendOtpCommand = {
        usage: input.usage ?? "update_userinfo",
        ...(Object.hasOwn(input, "phoneNumber") && { phoneNumber: input.phoneNumber }),
        ...(Object.hasOwn(input, "email") && { email: input.email }),
      };
      const send = async (key: Claim | undefined) => {
        // A send counts against limits and delivers: the key is taken first.
        await key?.take();
        return ctx.otp.sendOtp({ kind: "user", principal, address: ctx.clientAddress }, command);
      };
      return asResult(() => idempotentMutation(ctx.idempotency, "sendOtp", principal, input, send, OTP_TOKEN));
    },
  }),
);
