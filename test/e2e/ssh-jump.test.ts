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
import { execa } from "execa";
import { KilnError } from "../../src/errors.js";
import { EarlyCloseError, Remote, type SshTarget } from "../../src/remote/ssh.js";
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
      expect(err?.message).toMatch(/cannot connect to root@\[127\.0\.0\.1\]:\d+: (the connection (ended|closed) during the login|the server closed the connection before its SSH banner)/);
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

describe("a server that closes connections before its banner (too many unauthenticated ones)", () => {
  // In front of the real sshd: the first `refuse` connections are closed at once, as dropbear
  // closes a sixth unauthenticated connection from one address; the others pass through.
  async function refusing(refuse: number): Promise<{ port: number; seen: () => number; close: () => void }> {
    let seen = 0;
    const server = createServer((s) => {
      s.on("error", () => undefined);
      seen += 1;
      if (seen <= refuse) {
        s.destroy();
        return;
      }
      const up = connect(board.port, "127.0.0.1");
      up.on("error", () => s.destroy());
      s.pipe(up).pipe(s);
    });
    const port = await listen(server);
    return { port, seen: () => seen, close: () => server.close() };
  }

  function direct(port: number): SshTarget {
    const knownHostsFile = join(mkdtempSync(join(work, "state-")), "known_hosts");
    return { host: "127.0.0.1", port, user: "root", identity: board.clientKey, acceptNewHostKey: true, knownHostsFile, userKnownHostsFiles: [], readyTimeoutMs: 10_000 };
  }

  it("a command's first connection tries again and logs in; a single connect says what happened", async () => {
    const twice = await refusing(2);
    try {
      const r = await Remote.open(direct(twice.port), undefined, 3, 200);
      try {
        expect((await r.exec(["echo", "in"])).stdout.trim()).toBe("in");
      } finally {
        r.close();
      }
      expect(twice.seen()).toBe(3);
    } finally {
      twice.close();
    }
    const once = await refusing(1);
    try {
      const err = await Remote.connect(direct(once.port)).then((r) => (r.close(), undefined), (e: unknown) => e);
      expect(err).toBeInstanceOf(EarlyCloseError);
      expect((err as Error).message).toMatch(/cannot connect to root@\[127\.0\.0\.1\]:\d+: the server closed the connection before its SSH banner/);
    } finally {
      once.close();
    }
  }, 60_000);

  it("gives up after its attempts with the same words, and does not retry a refused login", async () => {
    const always = await refusing(Number.POSITIVE_INFINITY);
    try {
      const err = await Remote.open(direct(always.port), undefined, 3, 200).then((r) => (r.close(), undefined), (e: unknown) => e);
      expect(err).toBeInstanceOf(EarlyCloseError);
      expect(always.seen()).toBe(3);
    } finally {
      always.close();
    }
    // Another key than the authorized one: the server answers, so one attempt only.
    const plain = await refusing(0);
    try {
      const wrongKey = join(mkdtempSync(join(work, "key-")), "id_ed25519");
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrongKey]);
      const err = await Remote.open({ ...direct(plain.port), identity: wrongKey }, undefined, 3, 200).then((r) => (r.close(), undefined), (e: unknown) => e);
      expect(err).toBeInstanceOf(KilnError);
      expect(err).not.toBeInstanceOf(EarlyCloseError);
      expect(plain.seen()).toBe(1);
    } finally {
      plain.close();
    }
  }, 60_000);
});
