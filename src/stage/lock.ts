/**
 * One kiln at a time per output directory. The lock file holds the PID and the
 * command line of its holder; a second process is refused at once, naming
 * them. A lock whose process is gone is taken over, with a note.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../errors.js";

export interface LockHolder {
  pid: number;
  command: string;
  since: string;
}

export class LockedError extends KilnError {
  constructor(dir: string, holder: LockHolder) {
    super(`${dir} is in use by another kiln: PID ${holder.pid} (${holder.command}), since ${holder.since}`, {
      hint: "wait for it to finish, or use another --out directory",
      exitCode: 75,
    });
    this.name = "LockedError";
  }
}

export function lockFile(dir: string): string {
  return join(dir, ".kiln.lock");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, "utf8")) as Partial<LockHolder>;
    return typeof h.pid === "number" ? { pid: h.pid, command: String(h.command ?? "?"), since: String(h.since ?? "?") } : undefined;
  } catch {
    return undefined;
  }
}

const held = new Map<string, number>();

/**
 * Take the lock of `dir` for this process (re-entrant within it). Returns a
 * note when a stale lock was taken over. Released by `release` or at exit.
 */
export function acquireLock(dir: string, command = process.argv.slice(1).join(" ")): string | undefined {
  const file = lockFile(dir);
  const depth = held.get(file);
  if (depth !== undefined) {
    held.set(file, depth + 1);
    return undefined;
  }
  mkdirSync(dir, { recursive: true });
  let note: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o644);
      writeSync(fd, `${JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() })}\n`);
      closeSync(fd);
      held.set(file, 1);
      process.once("exit", () => releaseAll());
      return note;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = readHolder(file);
      if (holder && holder.pid !== process.pid && alive(holder.pid)) throw new LockedError(dir, holder);
      // Dead holder (or a lock file cut short by a crash): take it over.
      note = `took over the lock of ${dir} left by ${holder ? `PID ${holder.pid} (${holder.command}), which is no longer running` : "a kiln that did not finish writing it"}`;
      rmSync(file, { force: true });
    }
  }
  throw new KilnError(`could not take the lock ${file}`, { hint: "another kiln keeps taking it: wait for it to finish" });
}

export function releaseLock(dir: string): void {
  const file = lockFile(dir);
  const depth = held.get(file);
  if (depth === undefined) return;
  if (depth > 1) {
    held.set(file, depth - 1);
    return;
  }
  held.delete(file);
  if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
}

function releaseAll(): void {
  for (const file of held.keys()) if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
  held.clear();
}

/** Run `fn` holding the lock of `dir`. */
export async function withLock<T>(dir: string, fn: (note: string | undefined) => Promise<T>): Promise<T> {
  const note = acquireLock(dir);
  try {
    return await fn(note);
  } finally {
    releaseLock(dir);
  }
}
