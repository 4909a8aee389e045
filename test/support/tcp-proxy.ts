import { connect, createServer, type Socket } from "node:net";

/** A TCP proxy that can stop forwarding: a database that hangs without closing its connections. */
export interface TcpProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  /** From now on nothing is forwarded, in either direction, and no connection is closed. */
  freeze(): void;
  /** Bytes that arrived from clients since {@link freeze}. */
  heldBytes(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  let frozen = false;
  let held = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    }
    client.on("data", (chunk: Buffer) => {
      if (frozen) held += chunk.length;
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => frozen || client.write(chunk));
    client.on("end", () => frozen || upstream.end());
    upstream.on("end", () => frozen || client.end());
    client.on("close", () => frozen || upstream.destroy());
    upstream.on("close", () => frozen || client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxyPort = (server.address() as { port: number }).port;
  return {
    port: proxyPort,
    via(url) {
      const u = new URL(url);
      u.hostname = "127.0.0.1";
      u.port = String(proxyPort);
      return u.toString();
    },
    freeze: () => {
      frozen = true;
    },
    heldBytes: () => held,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
