/**
 * Root's /etc/shadow line: SHA-512 crypt with a random salt (openssl picks
 * it). The line is remembered in kiln's state directory under a keyed hash of
 * (board, password), so that a rebuild with the same password gives the same
 * line (the stage cache and reproducible builds) while neither the stamp nor
 * the cache's records hold anything that a guess of the password could be
 * checked against without this machine's secret.
 */
import { createHmac, randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { run, type StageLog } from "../exec.js";
import { withFileLock, writeFileAtomic } from "../fsutil.js";
import { stateDir } from "../paths.js";

export interface RootPassword {
  /** the crypt(3) line for /etc/shadow */
  hash: string;
  /** what the stage's inputs record: changes with the password, reveals nothing without the secret */
  key: string;
}

async function secret(dir: string): Promise<Buffer> {
  const file = join(dir, "password-secret");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withFileLock(file, async () => {
    const had = await readFile(file).catch(() => undefined);
    if (had && had.length >= 32) return had;
    const made = randomBytes(32);
    await writeFileAtomic(file, made, 0o600);
    return made;
  });
}

export async function rootPasswordHash(password: string, board: string, log: StageLog, dir = stateDir()): Promise<RootPassword> {
  const key = `hmac-sha256:${createHmac("sha256", await secret(dir)).update(`${board}\0${password}`).digest("hex")}`;
  const memo = join(dir, "root-passwords.json");
  return withFileLock(memo, async () => {
    const known = JSON.parse(await readFile(memo, "utf8").catch(() => "{}")) as Record<string, string>;
    const had = known[key];
    if (had) return { hash: had, key };
    const r = await run("openssl", ["passwd", "-6", "-stdin"], { log, input: `${password}\n`, what: "hashing the root password" });
    const hash = r.stdout.trim();
    known[key] = hash;
    await mkdir(dirname(memo), { recursive: true });
    await writeFileAtomic(memo, `${JSON.stringify(known, null, 2)}\n`, 0o600);
    return { hash, key };
  });
}
