/**
 * A loopback TCP proxy in front of a test server that can cut a connection
 * after N bytes from the client (a network failure in the middle of an
 * upload, at a byte count the test chooses) or freeze it there: nothing more
 * passes either way and nothing is closed, as when a board loses power.
 */
import { connect, createServer, type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Client-to-server bytes forwarded on the most recent connection. */
  lastConnectionBytes(): number;
  /** Connections cut so far. */
  cuts(): number;
  /** Cut every connection made from now on once it has sent more than `bytes` to the server; undefined: never. */
  cutAfter(bytes: number | undefined): void;
  /** Like cutAfter, but the connection goes silent instead of closing (no FIN, no RST). */
  freezeAfter(bytes: number | undefined): void;
  /** Hold the client's bytes once a connection has sent more than `bytes` (TCP backpressure), until release(). */
  holdAfter(bytes: number | undefined): void;
  /** Whether a connection is being held now. */
  holding(): boolean;
  release(): void;
  /** Cut every open connection now, as a link that drops; new connections are still taken. */
  cutAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  let limit: number | undefined;
  let freezeAt: number | undefined;
  let holdAt: number | undefined;
  let held: (() => void) | undefined;
  let last = 0;
  let cuts = 0;
  const open = new Set<Socket>();

  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const cutAt = limit;
    const frozenAt = freezeAt;
    const holdFrom = holdAt;
    let wasHeld = false;
    let sent = 0;
    let cut = false;
    let frozen = false;
    last = 0;
    open.add(client);
    open.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("data", (chunk: Buffer) => {
      if (cut || frozen) return;
      if (frozenAt !== undefined && sent + chunk.length > frozenAt) {
        frozen = true;
        cuts += 1;
        return;
      }
      if (cutAt !== undefined && sent + chunk.length > cutAt) {
        // Forward nothing of the chunk that crosses the line: the server sees a stream that just stops.
        cut = true;
        cuts += 1;
        end();
        return;
      }
      if (!wasHeld && holdFrom !== undefined && sent + chunk.length > holdFrom) {
        wasHeld = true;
        client.pause();
        held = () => {
          held = undefined;
          sent += chunk.length;
          last = sent;
          upstream.write(chunk);
          client.resume();
        };
        return;
      }
      sent += chunk.length;
      last = sent;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    upstream.on("data", (chunk: Buffer) => {
      if (frozen) return;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      resolve(typeof addr === "object" && addr ? addr.port : 0);
    });
  });

  return {
    port,
    lastConnectionBytes: () => last,
    cuts: () => cuts,
    cutAfter(bytes) {
      limit = bytes;
    },
    freezeAfter(bytes) {
      freezeAt = bytes;
    },
    holdAfter(bytes) {
      holdAt = bytes;
    },
    holding: () => held !== undefined,
    release() {
      held?.();
    },
    cutAll() {
      if (open.size > 0) cuts += 1;
      for (const s of open) s.destroy();
      open.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
