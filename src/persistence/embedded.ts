import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { lockDataDir } from "./data-dir-lock.js";

/** A PGlite database served on loopback, reachable through `url` by any PostgreSQL client. */
export interface EmbeddedDatabase {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Opens the embedded database in `dataDir/pgdata` and serves it on 127.0.0.1 (a free port), holding the data
 * directory's lock for as long as it is open.
 * @param maxClients how many connections will be opened: the server must accept more than the pool holds, or the
 *   first failing query breaks the pool.
 */
export async function openEmbeddedDatabase(dataDir: string, maxClients: number): Promise<EmbeddedDatabase> {
  const lock = lockDataDir(dataDir);
  let db: PGlite | undefined;
  try {
    db = await PGlite.create({ dataDir: join(dataDir, "pgdata") });
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: maxClients + 8 });
    await server.start();
    const url = `postgresql://postgres@${server.getServerConn()}/postgres?sslmode=disable`;
    lock.update(url);
    const opened = db;
    return {
      url,
      close: async () => {
        await server.stop();
        await opened.close();
        lock.release();
      },
    };
  } catch (error) {
    await db?.close().catch(() => undefined);
    lock.release();
    throw error;
  }
}
