import { STANDARD_CLAIMS } from "../../domain/attributes.js";
import type { Claims } from "../../domain/claims.js";
import { DomainError } from "../../domain/errors.js";
import { builder } from "../builder.js";

const standard: ReadonlySet<string> = new Set(STANDARD_CLAIMS);
const text = (value: unknown) => (typeof value === "string" ? value : null);
const flag = (value: unknown) => (typeof value === "boolean" ? value : null);

/** The caller's claims, filtered for the calling application exactly as `GET /userinfo` filters them. */
export const UserInfo = builder.objectRef<Claims>("UserInfo").implement({
  description: "The signed-in user's profile. Claims the application may not read, or that have no value, are null.",
  fields: (t) => ({
    sub: t.string({ resolve: (claims) => String(claims.sub) }),
    name: t.string({ nullable: true, resolve: (claims) => text(claims.name) }),
    nickname: t.string({ nullable: true, resolve: (claims) => text(claims.nickname) }),
    email: t.string({ nullable: true, resolve: (claims) => text(claims.email) }),
    emailVerified: t.boolean({ nullable: true, resolve: (claims) => flag(claims.email_verified) }),
    phoneNumber: t.string({ nullable: true, resolve: (claims) => text(claims.phone_number) }),
    phoneNumberVerified: t.boolean({ nullable: true, resolve: (claims) => flag(claims.phone_number_verified) }),
    zoneinfo: t.string({ nullable: true, resolve: (claims) => text(claims.zoneinfo) }),
    locale: t.string({ nullable: true, resolve: (claims) => text(claims.locale) }),
    updatedAt: t.field({
      type: "Timestamp",
      nullable: true,
      resolve: (claims) => (typeof claims.updated_at === "number" ? claims.updated_at : null),
    }),
    customAttributes: t.field({
      type: "JSON",
      description: "The operator-defined attributes the application may read, by name.",
      resolve: (claims) => Object.fromEntries(Object.entries(claims).filter(([name]) => !standard.has(name))),
    }),
    claims: t.field({
      type: "JSON",
      description: "Exactly the body `GET /userinfo` answers with.",
      resolve: (claims) => claims,
    }),
  }),
});

builder.queryField("userInfo", (t) =>
  t.field({
    type: UserInfo,
    nullable: true,
    description: "The signed-in user's profile; null when it does not exist and just-in-time provisioning is off.",
    resolve: async (_root, _args, ctx) => {
      const principal = await ctx.principal();
      try {
        return await ctx.userInfo.getUserInfo(principal);
      } catch (error) {
        if (error instanceof DomainError && error.code === "user_not_found") return null;
        throw error;
      }
    },
  }),
);
