import type { CustomAttributeDefinition } from "../domain/attributes.js";
import type { ApplicationRecord, Clock, Store } from "../domain/ports.js";

const MAX_APPLICATIONS = 10_000;

/**
 * Keeps custom attribute definitions and applications in memory for `ttlMs`: every request needs both, and they
 * change rarely (by the operator's CLI). A save through this store is seen at once; a save elsewhere (the CLI,
 * another process) within `ttlMs` - at once for a new application (unknown ones are not remembered) and for a new
 * attribute (the service rereads the definitions when a request names an attribute it does not know).
 * `ttlMs` 0: no cache.
 */
export function withLookupCache(store: Store, clock: Clock, ttlMs: number): Store {
  if (ttlMs <= 0) return store;
  let definitions: { value: Promise<CustomAttributeDefinition[]>; expires: number } | undefined;
  const applications = new Map<string, { value: Promise<ApplicationRecord | null>; expires: number }>();
  const fresh = (entry: { expires: number } | undefined) =>
    entry !== undefined && entry.expires > clock.now().getTime();
  return {
    ...store,
    customAttributes: {
      list(options) {
        if (options?.fresh === true || !fresh(definitions)) {
          const value = store.customAttributes.list();
          definitions = { value, expires: clock.now().getTime() + ttlMs };
          // A failed read is not remembered.
          value.catch(() => (definitions = undefined));
        }
        return definitions!.value;
      },
      async save(definition) {
        definitions = undefined;
        await store.customAttributes.save(definition);
        definitions = undefined;
      },
    },
    applications: {
      list: () => store.applications.list(),
      find(clientId) {
        const cached = applications.get(clientId);
        if (fresh(cached)) return cached!.value;
        if (applications.size >= MAX_APPLICATIONS) applications.delete(applications.keys().next().value!);
        const value = store.applications.find(clientId);
        applications.set(clientId, { value, expires: clock.now().getTime() + ttlMs });
        // Neither a failed read nor an unknown application is remembered: `apps add` must take effect at once.
        value.then(
          (found) => found === null && applications.delete(clientId),
          () => applications.delete(clientId),
        );
        return value;
      },
      async save(application) {
        applications.delete(application.clientId);
        await store.applications.save(application);
        applications.delete(application.clientId);
      },
    },
  };
}
