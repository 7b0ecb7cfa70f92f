/**
 * Upload throughput of kiln's SFTP (Remote.putBuffer, what kiln flash uploads
 * with) against scp, for the same random file to a throwaway OpenSSH server on
 * loopback (the end-to-end tests' stand-in board), or to a running board
 * (a third argument HOST:PORT and a fourth, the key: e.g. the QEMU board of
 * `kiln qemu start`, whose dropbear and TCG are what limit a flash there).
 * Each run includes connecting and logging in, as a user's upload does.
 * Prints figures; it is not a test. Goal: kiln / scp >= 0.9.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { parseHostSpec } from "../src/remote/fleet.js";
import { KilnError } from "../src/errors.js";
import { Remote } from "../src/remote/ssh.js";
import { startSshd } from "../test/support/sshd.js";

const megabytes = Number(process.argv[2] ?? 40);
const runs = Number(process.argv[3] ?? 3);
const boardArg = process.argv[4];
const boardKey = process.argv[5];
if (boardArg !== undefined && boardKey === undefined) throw new Error("a board's HOST:PORT needs the key to log in with as well");
// kiln would offer an agent's keys too; both sides must log in with the same key.
delete process.env.SSH_AUTH_SOCK;

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-sftp-"));
const file = join(dir, "upload.bin");
writeFileSync(file, randomBytes(megabytes * 1_000_000));
const bytes = statSync(file).size;
interface Target {
  host: string;
  port: number;
  key: string;
  /** where the files go on the target */
  dir: string;
  /** bytes of a file that arrived there, then removed */
  arrived(name: string): Promise<number>;
  stop(): Promise<void>;
}

async function standIn(): Promise<Target> {
  const sshd = await startSshd();
  return {
    host: "127.0.0.1",
    port: sshd.port,
    key: sshd.clientKey,
    dir: sshd.board.uploadDir,
    arrived: (name) => {
      const got = statSync(join(sshd.board.uploadDir, name)).size;
      rmSync(join(sshd.board.uploadDir, name));
      return Promise.resolve(got);
    },
    stop: () => sshd.stop(),
  };
}

/** A running board, reached and looked at with kiln's own SSH. */
async function board(spec: string, key: string): Promise<Target> {
  const { host, port = 22 } = parseHostSpec(spec);
  const remote = await Remote.connect({ host, port, user: "root", identity: key, acceptNewHostKey: true, knownHostsFile: join(dir, "known_hosts") });
  return {
    host,
    port,
    key,
    dir: "/tmp",
    arrived: async (name) => {
      const got = await remote.exec(["stat", "-c", "%s", `/tmp/${name}`]);
      await remote.exec(["rm", "-f", `/tmp/${name}`]);
      return Number(got.stdout.trim());
    },
    stop: () => Promise.resolve(remote.close()),
  };
}

let target: Target;
try {
  target = boardArg !== undefined && boardKey !== undefined ? await board(boardArg, boardKey) : await standIn();
} catch (err) {
  rmSync(dir, { recursive: true, force: true });
  const hint = err instanceof KilnError && err.hint ? `\n  ${err.hint}` : "";
  console.error(`bench/sftp-upload: ${(err as Error).message}${hint}`);
  process.exit(1);
}

async function timed(what: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await what();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function check(name: string): Promise<void> {
  const got = await target.arrived(name);
  if (got !== bytes) throw new Error(`${name}: ${got} bytes arrived, ${bytes} were sent`);
}

const kiln = async () => {
  const remote = await Remote.connect({
    host: target.host,
    port: target.port,
    user: "root",
    identity: target.key,
    acceptNewHostKey: true,
    knownHostsFile: join(dir, "known_hosts"),
  });
  try {
    // What kiln flash does: the bytes already in memory (the ones its pre-flight checked).
    await remote.putBuffer(readFileSync(file), join(target.dir, "kiln.bin"), 0o600);
  } finally {
    remote.close();
  }
};

const scp = async () => {
  await execa("scp", ["-q", "-F", "/dev/null", "-i", target.key, "-P", String(target.port), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    file, `root@${target.host}:${join(target.dir, "scp.bin")}`]);
};

const rate = (s: number) => bytes / 1e6 / s;
try {
  const best = { kiln: Infinity, scp: Infinity };
  console.log(`${(bytes / 1e6).toFixed(0)} MB of random data to ${boardArg ?? `OpenSSH on 127.0.0.1:${target.port}`}, ${runs} run(s) each`);
  for (let i = 1; i <= runs; i++) {
    const k = await timed(kiln);
    await check("kiln.bin");
    const s = await timed(scp);
    await check("scp.bin");
    best.kiln = Math.min(best.kiln, k);
    best.scp = Math.min(best.scp, s);
    console.log(`run ${i}: kiln SFTP ${k.toFixed(2)} s (${rate(k).toFixed(1)} MB/s), scp ${s.toFixed(2)} s (${rate(s).toFixed(1)} MB/s)`);
  }
  const ratio = rate(best.kiln) / rate(best.scp);
  console.log(`best: kiln SFTP ${rate(best.kiln).toFixed(1)} MB/s, scp ${rate(best.scp).toFixed(1)} MB/s, ratio ${ratio.toFixed(2)} (goal >= 0.90: ${ratio >= 0.9 ? "met" : "NOT met"})`);
} finally {
  await target.stop();
  rmSync(dir, { recursive: true, force: true });
}
