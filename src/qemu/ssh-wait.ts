import { connect } from "node:net";

/**
 * QEMU's port forward accepts a TCP connection even while nothing listens in
 * the guest, so "port open" means nothing: wait for the server's SSH banner.
 */
export async function sshBanner(port: number, host = "127.0.0.1", timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let data = "";
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      const line = /^(SSH-[^\r\n]*)\r?\n/.exec(data);
      if (line) done(line[1]);
    });
    sock.on("error", () => done(undefined));
    sock.on("close", () => done(undefined));
  });
}
