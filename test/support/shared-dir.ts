/**
 * Test files run three at a time (vitest.config.ts), and several of them build
 * into, or seed from, the same directories under ~/.cache/kiln/e2e. kiln itself
 * refuses a second process on a locked output directory at once (as a user
 * wants); tests instead wait their turn here, so that the first file to need a
 * build makes it and the others find it up to date.
 *
 * One turn per directory (a no-op build must not wait behind another file's
 * long build elsewhere). Lock order, where a file holds two: the directory it
 * builds, then the one it copies from.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";

const held = new Map<string, number>();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Make lockFile holding this process's PID, or false while a live process holds it (a dead holder's file is removed). */
function tryTake(lockFile: string): boolean {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: "wx" });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const holder = Number(readFileSync(lockFile, "utf8").trim() || "0");
  // A test process killed by a timeout leaves the file behind (read again: another may have just taken it over).
  if (holder > 0 && !alive(holder) && readFileSync(lockFile, "utf8").trim() === String(holder)) rmSync(lockFile, { force: true });
  return false;
}

/**
 * Wait until this process holds one of lockFiles (up to an hour: a cold kernel
 * build, or another file's boards in a long flash test); the one taken.
 */
export async function takeOneOf(lockFiles: readonly string[], waitingFor: string): Promise<string> {
  const until = Date.now() + 3_600_000;
  for (;;) {
    const taken = lockFiles.find((f) => tryTake(f));
    if (taken !== undefined) return taken;
    if (Date.now() > until) throw new Error(`waited an hour for ${waitingFor} (${lockFiles.join(", ")})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Run fn, which builds in or copies from dir, in this process's turn. */
export async function withSharedDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockFile = `${dir}.test-lock`;
  const mine = held.get(lockFile) ?? 0;
  if (mine === 0) await takeOneOf([lockFile], `another test process working on ${dir}`);
  held.set(lockFile, mine + 1);
  try {
    return await fn();
  } finally {
    const left = (held.get(lockFile) ?? 1) - 1;
    held.set(lockFile, left);
    if (left === 0) rmSync(lockFile, { force: true });
  }
}
