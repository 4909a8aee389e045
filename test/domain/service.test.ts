import { describe, expect, it } from "vitest";
import type { AuditRecord } from "../../src/domain/audit.js";
import { DomainError } from "../../src/domain/errors.js";
import { createOtpIssuer } from "../../src/domain/otp/challenges.js";
import {
  type NewOtpChallenge,
  type OtpChallenge,
  type Store,
  type TransactionalRepositories,
  UniqueViolation,
  type UserChanges,
  type UserRecord,
} from "../../src/domain/ports.js";
import type { Principal } from "../../src/domain/requesters.js";
import type { UpdateCommand } from "../../src/domain/update-command.js";
import { createUserInfoService } from "../../src/domain/user-info.js";
import { testClock } from "../support/gateway.js";

/**
 * The domain's ports in memory: enough to test the service's rules without a database. A transaction works on a
 * copy that replaces the state only when the work resolves.
 */
function memoryStore() {
  let state = {
    users: new Map<string, UserRecord>(),
    challenges: new Map<string, OtpChallenge & { tokenHash: string }>(),
  };
  const audits: AuditRecord[] = [];
  const repositories = (s: typeof state): TransactionalRepositories => ({
    users: {
      find: async (sub) => s.users.get(sub) ?? null,
      provision: async (sub, now) => {
        if (!s.users.has(sub)) s.users.set(sub, emptyUser(sub, now));
        return s.users.get(sub)!;
      },
      create: async (user) => {
        const record = {
          ...emptyUser(user.sub, user.createdAt),
          email: user.email ?? null,
          phoneNumber: user.phoneNumber ?? null,
        };
        s.users.set(user.sub, record);
        return record;
      },
      write: async (sub, changes, { createIfMissing, audit, expectedVersions, consume }) => {
        const stored = s.users.get(sub);
        // A created profile starts at version 1 with the changes in it, as the database's insert does.
        const current = stored ?? (createIfMissing ? { ...emptyUser(sub, changes.updatedAt), version: 0 } : undefined);
        if (current === undefined) return null;
        if (expectedVersions !== undefined && !expectedVersions.includes(current.version)) return null;
        for (const other of s.users.values()) {
          if (other.sub === sub) continue;
          if (changes.email !== undefined && other.email?.toLowerCase() === changes.email.toLowerCase())
            throw new UniqueViolation("email");
          if (changes.phoneNumber !== undefined && other.phoneNumber === changes.phoneNumber)
            throw new UniqueViolation("phone_number");
        }
        const next = apply(current, changes);
        s.users.set(sub, next);
        audits.push(audit);
        for (const id of consume?.challengeIds ?? []) Object.assign(s.challenges.get(id)!, { consumedAt: consume!.at });
        return next;
      },
      lockVersion: async (sub) => s.users.get(sub)?.version ?? null,
      holderOf: async (attribute, value) =>
        [...s.users.values()].find((u) =>
          attribute === "email" ? u.email?.toLowerCase() === value.toLowerCase() : u.phoneNumber === value,
        )?.sub ?? null,
    },
    otps: {
      lockByTokenHash: async (hash) => [...s.challenges.values()].find((c) => c.tokenHash === hash) ?? null,
      recordWrongCode: async (id) => {
        const challenge = s.challenges.get(id)!;
        Object.assign(challenge, { attempts: challenge.attempts + 1 });
      },
      issue: async (c: NewOtpChallenge) => {
        const id = `c${s.challenges.size + 1}`;
        s.challenges.set(id, { ...c, id, attempts: 0, consumedAt: null });
      },
      purgeExpired: async () => 0,
    },
    revertTokens: { find: async () => null, lock: async () => null, use: async () => undefined },
  });
  const clone = () => ({
    users: new Map([...state.users].map(([k, v]) => [k, { ...v }])),
    challenges: new Map([...state.challenges].map(([k, v]) => [k, { ...v }])),
  });
  const store = {
    get users() {
      return repositories(state).users;
    },
    get otps() {
      return repositories(state).otps;
    },
    customAttributes: { list: async () => [], save: async () => undefined },
    applications: { find: async () => null, list: async () => [], save: async () => undefined },
    async transaction<T>(work: (tx: TransactionalRepositories) => Promise<T>) {
      const copy = clone();
      const result = await work(repositories(copy));
      state = copy;
      return result;
    },
  } as unknown as Store;
  return {
    store,
    audits,
    challenges: () => [...state.challenges.values()],
    user: (sub: string) => state.users.get(sub),
  };
}

const emptyUser = (sub: string, now: Date): UserRecord => ({
  sub,
  email: null,
  emailVerified: false,
  phoneNumber: null,
  phoneNumberVerified: false,
  name: null,
  nickname: null,
  zoneinfo: null,
  locale: null,
  customAttributes: {},
  version: 1,
  createdAt: now,
  updatedAt: now,
});

const apply = (u: UserRecord, c: UserChanges): UserRecord => ({
  ...u,
  ...c.profile,
  ...(c.email !== undefined && { email: c.email, emailVerified: true }),
  ...(c.phoneNumber !== undefined && { phoneNumber: c.phoneNumber, phoneNumberVerified: true }),
  version: u.version + 1,
  updatedAt: c.updatedAt,
});

function setup(jitProvisioning = true, options: { stepUpMaxAgeSeconds?: number; claimsByScope?: boolean } = {}) {
  const clock = testClock();
  const memory = memoryStore();
  let n = 0;
  const codes = ["111111", "222222", "333333"];
  const issue = createOtpIssuer({
    otps: memory.store.otps,
    clock,
    random: { token: () => `token-${++n}`, code: () => codes[n % 3]! },
  });
  const service = createUserInfoService({
    store: memory.store,
    clock,
    jitProvisioning,
    defaultClaims: undefined,
    random: { token: () => `revert-${++n}` },
    revertTtlSeconds: 604_800,
    ...options,
  });
  const alice: Principal = { sub: "alice", clientId: "web", scopes: ["openid"], authTime: undefined };
  const otp = async (channel: "sms" | "email", target: string) => {
    const issued = await issue({ channel, target, usage: "update_userinfo", clientId: "web", userSub: "alice" });
    return { token: issued.otpToken, code: issued.code };
  };
  const codeOf = (promise: Promise<unknown>) =>
    promise.then(
      () => "ok",
      (e: unknown) => (e instanceof DomainError ? e.code : String(e)),
    );
  return { clock, memory, service, alice, otp, codeOf };
}

describe("user-info service with fake ports", () => {
  it("checks every token before any code, phone number first, and counts each wrong code", async () => {
    const { service, alice, otp, codeOf, memory } = setup();
    const phone = await otp("sms", "13800138000");
    const email = await otp("email", "a@example.com");
    const body = (p: string, e: string, emailToken = email.token): UpdateCommand => ({
      phoneNumber: { value: "13800138000", otpToken: phone.token, otp: p },
      email: { value: "a@example.com", otpToken: emailToken, otp: e },
    });
    expect(await codeOf(service.updateUserInfo(alice, body("0", "0", "nope")))).toBe("bad_email_otp_token");
    expect(memory.challenges().map((c) => c.attempts)).toEqual([0, 0]);
    expect(await codeOf(service.updateUserInfo(alice, body("000000", "000000")))).toBe("bad_phone_number_otp");
    expect(memory.challenges().map((c) => c.attempts)).toEqual([1, 1]);
    expect(await codeOf(service.updateUserInfo(alice, body(phone.code, "000000")))).toBe("bad_email_otp");
    expect(memory.challenges().map((c) => c.attempts)).toEqual([1, 2]);
    expect(await codeOf(service.updateUserInfo(alice, body(phone.code, email.code)))).toBe("ok");
    expect(memory.challenges().every((c) => c.consumedAt !== null)).toBe(true);
    expect(memory.user("alice")).toMatchObject({ phoneNumber: "13800138000", email: "a@example.com", version: 1 });
  });

  it("maps a unique violation to duplicate_* and consumes nothing", async () => {
    const { service, alice, otp, codeOf, memory } = setup();
    await memory.store.users.create({ sub: "bob", email: "Taken@example.com", createdAt: new Date() });
    const email = await otp("email", "taken@example.com");
    const body = { email: { value: "taken@example.com", otpToken: email.token, otp: email.code } };
    expect(await codeOf(service.updateUserInfo(alice, body))).toBe("duplicate_email");
    expect(memory.challenges()[0]?.consumedAt).toBeNull();
    expect(memory.audits).toHaveLength(0);
  });

  it("reports a missing user last, and without just-in-time provisioning only", async () => {
    const strict = setup(false);
    expect(await strict.codeOf(strict.service.updateUserInfo(strict.alice, { profile: { nickname: "" } }))).toBe(
      "illegal_parameter_value",
    );
    expect(await strict.codeOf(strict.service.updateUserInfo(strict.alice, { profile: { nickname: "x" } }))).toBe(
      "user_not_found",
    );
    expect(await strict.codeOf(strict.service.userInfo(strict.alice))).toBe("user_not_found");
    const jit = setup(true);
    expect(await jit.service.updateUserInfo(jit.alice, { profile: { nickname: "x" } })).toMatchObject({
      sub: "alice",
      nickname: "x",
    });
    expect(jit.memory.audits).toEqual([{ clientId: "web", attributes: ["nickname"], changes: { nickname: "x" } }]);
  });
});

describe("safe writes with fake ports (SPEC 5.1, 5.3, 5.6)", () => {
  it("checks If-Match after the values and before any code: a stale version counts no wrong code", async () => {
    const { service, alice, otp, codeOf, memory } = setup();
    await service.userInfo(alice);
    await service.updateUserInfo(alice, { profile: { nickname: "one" } });
    const email = await otp("email", "a@example.com");
    const change = (code: string): UpdateCommand => ({
      email: { value: "a@example.com", otpToken: email.token, otp: code },
    });
    const stale = service.updateUserInfo(alice, change("000000"), { ifVersion: [1] });
    await expect(stale).rejects.toMatchObject({ code: "precondition_failed", status: 412, currentVersion: 2 });
    expect(memory.challenges()[0]?.attempts).toBe(0);
    // Malformed values are reported before the precondition.
    const malformed = service.updateUserInfo(alice, { profile: { nickname: "" } }, { ifVersion: [1] });
    expect(await codeOf(malformed)).toBe("illegal_parameter_value");
    expect(await service.updateUserInfo(alice, change(email.code), { ifVersion: [7, 2] })).toMatchObject({
      email: "a@example.com",
      version: 3,
    });
  });

  it("If-Match without changes: 200 at the version, 412 otherwise; * needs a profile", async () => {
    const { service, alice, codeOf, memory } = setup();
    expect(await codeOf(service.updateUserInfo(alice, { profile: {} }, { ifVersion: "any" }))).toBe(
      "precondition_failed",
    );
    expect(memory.user("alice")).toBeUndefined();
    await service.userInfo(alice);
    expect(await service.updateUserInfo(alice, { profile: {} }, { ifVersion: "any" })).toMatchObject({ version: 1 });
    expect(await codeOf(service.updateUserInfo(alice, { profile: {} }, { ifVersion: [2] }))).toBe(
      "precondition_failed",
    );
    expect(await service.updateUserInfo(alice, { profile: { name: "A" } }, { ifVersion: [1] })).toMatchObject({
      version: 2,
    });
    expect(memory.audits).toHaveLength(1);
  });

  it("step-up: identifier changes need a recent auth_time, other attributes do not, and no code is counted", async () => {
    const { service, alice, otp, codeOf, memory, clock } = setup(true, { stepUpMaxAgeSeconds: 300 });
    const now = clock.now().getTime() / 1000;
    const email = await otp("email", "a@example.com");
    const change: UpdateCommand = { email: { value: "a@example.com", otpToken: email.token, otp: "000000" } };
    await expect(service.updateUserInfo(alice, change)).rejects.toMatchObject({
      code: "insufficient_user_authentication",
      status: 401,
      maxAgeSeconds: 300,
    });
    const old = { ...alice, authTime: now - 301 };
    expect(await codeOf(service.updateUserInfo(old, change))).toBe("insufficient_user_authentication");
    expect(memory.challenges()[0]?.attempts).toBe(0);
    expect(await service.updateUserInfo(old, { profile: { nickname: "n" } })).toMatchObject({ nickname: "n" });
    const fresh = { ...alice, authTime: now - 300 };
    expect(await codeOf(service.updateUserInfo(fresh, change))).toBe("bad_email_otp");
  });

  it("claims by scope: profile, email and phone each show their claims; sub always", async () => {
    const { service, alice } = setup(true, { claimsByScope: true });
    const phone = { ...alice, scopes: ["openid", "phone"] };
    await service.updateUserInfo(alice, { profile: { name: "Alice", locale: "en-US" } });
    expect(await service.userInfo(alice)).toEqual({ sub: "alice", customAttributes: {}, version: 1 });
    expect(await service.userInfo(phone)).toEqual({ sub: "alice", customAttributes: {}, version: 1 });
    const profile = await service.userInfo({ ...alice, scopes: ["openid", "profile"] });
    expect(profile).toMatchObject({ sub: "alice", name: "Alice", locale: "en-US" });
    expect(profile.updatedAt).toBeInstanceOf(Date);
    const unscoped = setup(true).service;
    expect(await unscoped.updateUserInfo(alice, { profile: { name: "Alice" } })).toMatchObject({ name: "Alice" });
  });
});
