/**
 * Facts read out of a file (its sha256, the version line of a tool) remembered
 * by the file's identity: device, inode, size, mtime and ctime to the
 * nanosecond. Any write changes the ctime, which no user command sets back, so
 * an equal identity means the same bytes (git's index trusts the same). This is
 * what keeps a no-op `kiln build` from reading a 190 MB ramdisk and starting
 * gcc, mmdebstrap and mkimage just to learn that nothing changed.
 *
 * A file written within the last two seconds is not remembered: a second write
 * inside the same clock tick could leave every field as it was.
 */
import { realpathSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./fsutil.js";
import { cacheDir } from "./paths.js";

interface Entry {
  id: string;
  value: string;
}

/** Enough for every input of a few boards' builds; the oldest go first. */
const MAX_ENTRIES = 2000;
const SETTLE_MS = 2000;

let loaded: Map<string, Entry> | undefined;

function memoFile(): string {
  return join(cacheDir(), "stat-memo.json");
}

async function entries(): Promise<Map<string, Entry>> {
  if (loaded) return loaded;
  try {
    const data = JSON.parse(await readFile(memoFile(), "utf8")) as { version?: number; entries?: [string, Entry][] };
    loaded = new Map(data.version === 1 && Array.isArray(data.entries) ? data.entries : []);
  } catch {
    loaded = new Map();
  }
  return loaded;
}

async function save(map: Map<string, Entry>): Promise<void> {
  const all = [...map.entries()];
  const kept = all.slice(Math.max(0, all.length - MAX_ENTRIES));
  // A cache: when it cannot be written (read-only home), kiln only gets slower.
  await writeFileAtomic(memoFile(), JSON.stringify({ version: 1, entries: kept })).catch(() => undefined);
}

/** The identity of a file, or undefined when it changed too recently to be trusted. */
async function identity(path: string): Promise<string | undefined> {
  const st = await stat(path, { bigint: true });
  const mtimeMs = Number(st.mtimeNs / 1_000_000n);
  const ctimeMs = Number(st.ctimeNs / 1_000_000n);
  if (Date.now() - Math.max(mtimeMs, ctimeMs) < SETTLE_MS) return undefined;
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** The value remembered under `key` for `id`, else `compute()`'s, then remembered. */
async function remember(key: string, id: string, compute: () => Promise<string>): Promise<string> {
  const map = await entries();
  const hit = map.get(key);
  if (hit && hit.id === id) return hit.value;
  const value = await compute();
  // Re-inserted at the end: the map's order is the order of last use.
  map.delete(key);
  map.set(key, { id, value });
  await save(map);
  return value;
}

/**
 * `compute()` for a key that names its own content (a hash of everything the
 * value depends on): remembered without any file identity.
 */
export async function memoByKey(kind: string, key: string, compute: () => Promise<string>): Promise<string> {
  return remember(`${kind}\0${key}`, key, compute);
}

/**
 * `compute()` for the file at `path`, or what it returned the last time the
 * file had this identity. `kind` separates facts about one file.
 */
export async function memoByStat(kind: string, path: string, compute: () => Promise<string>): Promise<string> {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return compute();
  }
  const id = await identity(real).catch(() => undefined);
  if (id === undefined) return compute();
  return remember(`${kind}\0${real}`, id, compute);
}
