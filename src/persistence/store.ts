import type { Store, TransactionalRepositories } from "../domain/ports.js";
import type { Database, Executor } from "./database.js";
import { applicationQueries } from "./queries/applications.js";
import { outboxQueries } from "./queries/change-events.js";
import { customAttributeDefinitionQueries } from "./queries/custom-attribute-definitions.js";
import { idempotencyKeyQueries } from "./queries/idempotency-keys.js";
import { otpChallengeQueries } from "./queries/otp-challenges.js";
import { rateLimitEventQueries } from "./queries/rate-limit-events.js";
import { revertTokenQueries } from "./queries/revert-tokens.js";
import { userQueries } from "./queries/users.js";

const transactional = (db: Executor): TransactionalRepositories => ({
  users: userQueries(db),
  otps: otpChallengeQueries(db),
  revertTokens: revertTokenQueries(db),
});

/** The domain's {@link Store}: the query modules of every table, on one database. */
export function createStore(database: Database): Store {
  return {
    ...transactional(database.executor),
    applications: applicationQueries(database.executor),
    customAttributes: customAttributeDefinitionQueries(database.executor),
    rateLimits: rateLimitEventQueries(database.executor),
    outbox: outboxQueries(database.executor),
    idempotencyKeys: idempotencyKeyQueries(database.executor),
    transaction: (work) => database.transaction((tx) => work(transactional(tx))),
  };
}
