/**
 * Upload throughput of kiln's SFTP (Remote.putFile, what kiln flash uploads
 * with) against scp, for the same random file to a throwaway OpenSSH server on
 * loopback (the end-to-end tests' stand-in board). Each run includes connecting
 * and logging in, as a user's upload does. Prints figures; it is not a test.
 * Goal: kiln / scp >= 0.9.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { Remote } from "../src/remote/ssh.js";
import { startSshd } from "../test/support/sshd.js";

const megabytes = Number(process.argv[2] ?? 40);
const runs = Number(process.argv[3] ?? 3);
// kiln would offer an agent's keys too; both sides must log in with the same key.
delete process.env.SSH_AUTH_SOCK;

const dir = mkdtempSync(join(tmpdir(), "kiln-bench-sftp-"));
const file = join(dir, "upload.bin");
writeFileSync(file, randomBytes(megabytes * 1_000_000));
const bytes = statSync(file).size;
const sshd = await startSshd();

async function timed(what: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await what();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function check(name: string): void {
  const got = statSync(join(sshd.board.uploadDir, name)).size;
  if (got !== bytes) throw new Error(`${name}: ${got} bytes arrived, ${bytes} were sent`);
  rmSync(join(sshd.board.uploadDir, name));
}

const kiln = async () => {
  const remote = await Remote.connect({
    host: "127.0.0.1",
    port: sshd.port,
    user: "root",
    identity: sshd.clientKey,
    acceptNewHostKey: true,
    knownHostsFile: join(dir, "known_hosts"),
  });
  try {
    // What kiln flash does: the bytes already in memory (the ones its pre-flight checked).
    await remote.putBuffer(readFileSync(file), join(sshd.board.uploadDir, "kiln.bin"), 0o600);
  } finally {
    remote.close();
  }
};

const scp = async () => {
  await execa("scp", ["-q", "-F", "/dev/null", "-i", sshd.clientKey, "-P", String(sshd.port), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
    file, `root@127.0.0.1:${join(sshd.board.uploadDir, "scp.bin")}`]);
};

const rate = (s: number) => bytes / 1e6 / s;
try {
  const best = { kiln: Infinity, scp: Infinity };
  console.log(`${(bytes / 1e6).toFixed(0)} MB of random data to OpenSSH on 127.0.0.1:${sshd.port}, ${runs} run(s) each`);
  for (let i = 1; i <= runs; i++) {
    const k = await timed(kiln);
    check("kiln.bin");
    const s = await timed(scp);
    check("scp.bin");
    best.kiln = Math.min(best.kiln, k);
    best.scp = Math.min(best.scp, s);
    console.log(`run ${i}: kiln SFTP ${k.toFixed(2)} s (${rate(k).toFixed(1)} MB/s), scp ${s.toFixed(2)} s (${rate(s).toFixed(1)} MB/s)`);
  }
  const ratio = rate(best.kiln) / rate(best.scp);
  console.log(`best: kiln SFTP ${rate(best.kiln).toFixed(1)} MB/s, scp ${rate(best.scp).toFixed(1)} MB/s, ratio ${ratio.toFixed(2)} (goal >= 0.90: ${ratio >= 0.9 ? "met" : "NOT met"})`);
} finally {
  await sshd.stop();
  rmSync(dir, { recursive: true, force: true });
}
