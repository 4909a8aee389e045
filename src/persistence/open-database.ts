import type { Store } from "../domain/ports.js";
import type { Logger } from "../logger.js";
import { connectDatabase, type Database } from "./database.js";
import { migrate } from "./migrations.js";
import { createStore } from "./store.js";

/** Where the database is: PostgreSQL at `url`, or the embedded one in `dataDir` when `url` is undefined. */
export interface DatabaseLocation {
  readonly url: string | undefined;
  readonly dataDir: string;
  readonly poolSize: number;
}

/** An open, migrated database: its connection and the domain's store on it. */
export interface OpenDatabase {
  readonly url: string;
  readonly embedded: boolean;
  readonly database: Database;
  readonly store: Store;
  /** The migrations applied while opening it. */
  readonly applied: readonly string[];
  close(): Promise<void>;
}

/** Opens the database (starting the embedded one if it is the embedded one) and applies pending migrations. */
export async function openDatabase(location: DatabaseLocation, log: Logger): Promise<OpenDatabase> {
  // The embedded engine is loaded only when it is used.
  const embedded =
    location.url === undefined
      ? await (await import("./embedded.js")).openEmbeddedDatabase(location.dataDir, location.poolSize)
      : undefined;
  const url = embedded?.url ?? location.url!;
  let applied: string[];
  try {
    applied = await migrate(url);
    if (applied.length > 0) log.info({ migrations: applied }, "migrations applied");
  } catch (error) {
    await embedded?.close();
    throw error;
  }
  const database = connectDatabase(url, location.poolSize);
  return {
    url,
    embedded: embedded !== undefined,
    database,
    store: createStore(database),
    applied,
    close: async () => {
      await database.close();
      await embedded?.close();
    },
  };
}

/**
 * Opens the database for a short-lived operator command. With the embedded database, the server a running gateway
 * started is reached with the URL and password in DATA_DIR; with none running, it is started here and stopped after.
 */
export async function openDatabaseForOperator(location: DatabaseLocation, log: Logger): Promise<OpenDatabase> {
  const served =
    location.url === undefined ? (await import("./embedded.js")).runningEmbeddedUrl(location.dataDir) : undefined;
  return openDatabase({ ...location, url: location.url ?? served, poolSize: 2 }, log);
}
