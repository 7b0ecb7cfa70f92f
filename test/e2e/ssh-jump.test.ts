/**
 * A board behind a jump host that goes away (a reboot): the SSH module must fail
 * the login or the command, never wait for ever. Through a jump host the board's
 * SSH runs inside a forwarded channel, and a board that goes down ends that
 * channel (EOF) without closing it: ssh2 then stops its own timers. The QEMU
 * board's reboot through ProxyJump hung on exactly this (qemu-board.test.ts).
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Remote, type SshTarget } from "../../src/remote/ssh.js";
import { testWork } from "../support/cli.js";
import { type Sshd, startSshd } from "../support/sshd.js";

let board: Sshd;
let jump: Sshd;
let work: string;
let savedAgent: string | undefined;

beforeAll(async () => {
  savedAgent = process.env.SSH_AUTH_SOCK;
  delete process.env.SSH_AUTH_SOCK;
  work = mkdtempSync(join(testWork(), "ssh-jump-"));
  board = await startSshd();
  jump = await startSshd();
});

afterAll(async () => {
  await board?.stop();
  await jump?.stop();
  if (savedAgent !== undefined) process.env.SSH_AUTH_SOCK = savedAgent;
});

async function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

function target(port: number, readyTimeoutMs: number): SshTarget {
  const knownHostsFile = join(mkdtempSync(join(work, "state-")), "known_hosts");
  const via: SshTarget = { host: "127.0.0.1", port: jump.port, user: "root", identity: jump.clientKey, acceptNewHostKey: true, knownHostsFile, userKnownHostsFiles: [] };
  return { host: "127.0.0.1", port, user: "root", identity: board.clientKey, acceptNewHostKey: true, knownHostsFile, userKnownHostsFiles: [], readyTimeoutMs, via };
}

describe("a board behind a jump host that goes down", () => {
  it("during the login: the login fails (the channel ended), it does not wait for ever", async () => {
    // The board's sshd answered with its banner, then the board went down: the TCP stream ends.
    const server = createServer((s) => {
      s.on("error", () => undefined);
      s.end("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    });
    const port = await listen(server);
    try {
      const err = await Remote.connect(target(port, 5000)).then(
        (r) => {
          r.close();
          return undefined;
        },
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/cannot connect to root@\[127\.0\.0\.1\]:\d+: (the connection (ended|closed) during the login|Connection lost before handshake)/);
    } finally {
      server.close();
    }
  }, 60_000);

  it("during a command: the command fails naming the lost connection, and the next one is refused at once", async () => {
    // Between the jump host and the board: forwards until told to end the stream, as a board going down.
    const open: Socket[] = [];
    const server = createServer((fromJump) => {
      const toBoard = connect(board.port, "127.0.0.1");
      open.push(fromJump, toBoard);
      fromJump.on("error", () => undefined);
      toBoard.on("error", () => undefined);
      fromJump.pipe(toBoard);
      toBoard.pipe(fromJump);
    });
    const port = await listen(server);
    try {
      const r = await Remote.connect(target(port, 10_000));
      expect((await r.exec(["echo", "up"])).stdout).toBe("up\n");
      const running = r.exec(["sleep", "60"]).then(
        () => undefined,
        (e: Error) => e,
      );
      await new Promise((res) => setTimeout(res, 500));
      for (const s of open) s.end();
      const err = await running;
      expect(err?.message).toMatch(/127\.0\.0\.1: the connection (ended|closed) while it ran: sleep 60/);
      await expect(r.exec(["true"])).rejects.toThrow(/the connection (ended|closed); not run: true/);
      r.close();
    } finally {
      for (const s of open) s.destroy();
      server.close();
    }
  }, 60_000);
});
