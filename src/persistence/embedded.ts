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
 * @param maxClients the gateway's pool size. The server accepts 32 connections more: a refused connection breaks the
 *   pool's next query, and the CLI (and tools) connect through the same server while the gateway runs.
 */
export async function openEmbeddedDatabase(dataDir: string, maxClients: number): Promise<EmbeddedDatabase> {
  const lock = lockDataDir(dataDir);
  let db: PGlite | undefined;
  try {
    db = await PGlite.create({ dataDir: join(dataDir, "pgdata") });
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: maxClients + 32 });
    serializeClientBatches(server, db);
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

/** The parts of the socket server's (private) query queue that {@link serializeClientBatches} wraps. */
interface QueryQueue {
  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number>;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
}

// Extended-protocol messages that continue a batch the client ends with Sync: Parse, Bind, Describe, Execute,
// Close, Flush.
const BATCH_MESSAGES = new Set(["P", "B", "D", "E", "C", "H"].map((c) => c.charCodeAt(0)));

/**
 * Gives one client connection the database from its first message until its batch ends (Sync or a simple query)
 * outside a transaction. The socket server (0.2.17) queues each protocol message on its own, so under concurrency
 * one connection's Parse/Bind/Execute interleave with another's on PGlite's single session, and the unnamed
 * prepared statement of one is bound with the parameters of the other ("bind message supplies 1 parameters...").
 * Its own transaction guard covers explicit transactions only.
 */
function serializeClientBatches(server: PGLiteSocketServer, db: PGlite): void {
  const queue = (server as unknown as { queryQueue: QueryQueue }).queryQueue;
  let owner: number | null = null;
  const waiting: { handlerId: number; resume: () => void }[] = [];
  const release = () => {
    const next = waiting.shift();
    owner = next?.handlerId ?? null;
    next?.resume();
  };
  const enqueue = queue.enqueue.bind(queue);
  queue.enqueue = async (handlerId, message, onData) => {
    if (owner === null) owner = handlerId;
    else if (owner !== handlerId) await new Promise<void>((resume) => waiting.push({ handlerId, resume }));
    try {
      return await enqueue(handlerId, message, onData);
    } finally {
      if (!BATCH_MESSAGES.has(message[0] ?? 0) && !db.isInTransaction()) release();
    }
  };
  const clearTransaction = queue.clearTransactionIfNeeded.bind(queue);
  queue.clearTransactionIfNeeded = async (handlerId) => {
    await clearTransaction(handlerId);
    // A client that went away in the middle of a batch or transaction must not keep the database.
    const index = waiting.findIndex((w) => w.handlerId === handlerId);
    if (index >= 0) waiting.splice(index, 1);
    if (owner === handlerId) release();
  };
}
