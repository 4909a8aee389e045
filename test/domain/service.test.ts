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
      write: async (sub, changes, { createIfMissing, audit }) => {
        const current = s.users.get(sub) ?? (createIfMissing ? emptyUser(sub, changes.updatedAt) : undefined);
        if (current === undefined) return null;
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
        return next;
      },
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
      consume: async (id, now) => void Object.assign(s.challenges.get(id)!, { consumedAt: now }),
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

function setup(jitProvisioning = true) {
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
  });
  const alice = { sub: "alice", clientId: "web" };
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
    expect(memory.user("alice")).toMatchObject({ phoneNumber: "13800138000", email: "a@example.com", version: 2 });
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
