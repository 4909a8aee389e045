import type { UserInfo as UserInfoResult } from "../../domain/claims.js";
import { DomainError } from "../../domain/errors.js";
import { claimsOf } from "../../rest/claims.js";
import { builder } from "../builder.js";
import type { ResultCodec } from "../idempotent.js";

/** A profile as kept for an idempotent replay (JSON: `updatedAt` as epoch milliseconds). */
export const userInfoCodec: ResultCodec<UserInfoResult> = {
  encode: (info) => ({ ...info, ...(info.updatedAt && { updatedAt: info.updatedAt.getTime() }) }),
  decode: (kept) => {
    const info = kept as UserInfoResult & { updatedAt?: number };
    return { ...info, ...(info.updatedAt !== undefined && { updatedAt: new Date(info.updatedAt) }) } as UserInfoResult;
  },
};

/** The caller's profile, filtered for the calling application exactly as `GET /userinfo` filters it. */
export const UserInfo = builder.objectRef<UserInfoResult>("UserInfo").implement({
  description: "The signed-in user's profile. Claims the application may not read, or that have no value, are null.",
  fields: (t) => ({
    sub: t.exposeString("sub"),
    version: t.exposeInt("version", {
      description:
        "+1 on each successful change; the `ETag` of the REST face. Pass it as `ifVersion` to update safely.",
    }),
    name: t.string({ nullable: true, resolve: (info) => info.name }),
    nickname: t.string({ nullable: true, resolve: (info) => info.nickname }),
    email: t.string({ nullable: true, resolve: (info) => info.email }),
    emailVerified: t.boolean({ nullable: true, resolve: (info) => info.emailVerified }),
    phoneNumber: t.string({ nullable: true, resolve: (info) => info.phoneNumber }),
    phoneNumberVerified: t.boolean({ nullable: true, resolve: (info) => info.phoneNumberVerified }),
    zoneinfo: t.string({ nullable: true, resolve: (info) => info.zoneinfo }),
    locale: t.string({ nullable: true, resolve: (info) => info.locale }),
    updatedAt: t.field({
      type: "Timestamp",
      nullable: true,
      resolve: (info) => (info.updatedAt === undefined ? null : Math.floor(info.updatedAt.getTime() / 1000)),
    }),
    customAttributes: t.field({
      type: "JSON",
      description: "The operator-defined attributes the application may read, by name.",
      resolve: (info) => info.customAttributes,
    }),
    claims: t.field({
      type: "JSON",
      description: "Exactly the body `GET /userinfo` answers with.",
      resolve: (info) => claimsOf(info),
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
        return await ctx.userInfo.userInfo(principal);
      } catch (error) {
        if (error instanceof DomainError && error.code === "user_not_found") return null;
        throw error;
      }
    },
  }),
);
