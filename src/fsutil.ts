/** Small file helpers whose point is that nothing half-written is ever left behind. */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";

export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString("hex")}`);
}

/** Write to a temporary sibling, then rename: readers see the old file or the whole new one. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data, mode === undefined ? undefined : { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Run `fn` while holding `<path>.lock` (made exclusively): for read-modify-write
 * of a small shared file by several processes. A lock older than `staleMs` was
 * left by a process that died and is taken over.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: { waitMs?: number; staleMs?: number } = {}): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + (opts.waitMs ?? 15_000);
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    try {
      const fh = await open(lock, "wx");
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs).catch(() => 0);
      if (age > (opts.staleMs ?? 30_000)) await rm(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by another process for too long`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** Free space, in MiB, on the file system that holds `path` (or would: its nearest existing parent). */
export async function freeMiB(path: string): Promise<number> {
  let dir = resolve(path);
  for (;;) {
    const st = await statfs(dir).catch(() => undefined);
    if (st) return Math.floor((Number(st.bavail) * Number(st.bsize)) / (1024 * 1024));
    const parent = dirname(dir);
    if (parent === dir) return Number.POSITIVE_INFINITY;
    dir = parent;
  }
}

/**
 * Least-recently-used pruning for kiln's caches: of entries with the time each
 * was last used, those beyond the `keep` most recent, the ones to remove.
 */
export function beyondNewest<T extends { used: number }>(entries: readonly T[], keep: number): T[] {
  return [...entries].sort((a, b) => b.used - a.used).slice(keep);
}
