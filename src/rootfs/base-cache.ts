/**
 * The Debian part of a root (what mmdebstrap made, before kiln adds anything)
 * kept in ~/.cache/kiln/rootfs-base, keyed by everything mmdebstrap is given.
 * mmdebstrap is most of a root filesystem's build time (every package script
 * runs under qemu-user), and its output depends on none of what differs
 * between boards of one architecture or between kernel variants: the AX3,
 * qemu-virt and a qemu-virt kernel variant share one base, and a change to
 * kiln's templates, keys or modules packs a root again without running it.
 *
 * A base is a tar (numeric owners, modes, hard links, device nodes), written
 * under a temporary name and renamed, with what mmdebstrap reported beside it.
 * Not kept: a base made while a suite could not be downloaded (the next build
 * tries the network again) or with an unpinned timestamp (no build could match
 * it). Not used after MAX_AGE_DAYS: the mirrors' security updates come in.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { sha256Text } from "../cache.js";
import { CommandError } from "../errors.js";
import { run, type StageLog } from "../exec.js";
import { beyondNewest, tempSibling, writeFileAtomic } from "../fsutil.js";
import { cacheDir } from "../paths.js";
import { type DebootstrapInput, type DebootstrapResult, mmdebstrapArgs } from "./mmdebstrap.js";
import type { SuiteSource } from "./apt-sources.js";

/** Bases kept: the default and bench profiles, and room for a change to either. */
const KEEP = 4;
/** A base older than this is made again, with the mirrors' current packages. */
export const MAX_AGE_DAYS = 7;

const TAR_OPTS = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"];

export function baseDir(): string {
  return join(cacheDir(), "rootfs-base");
}

/**
 * The key of a base: mmdebstrap's full command line (packages, variant,
 * suites and mirrors, dpkg options, hooks) with the target directory left out
 * (it is under each build's own output directory), mmdebstrap's and
 * qemu-user's versions, the timestamp it builds with, and the code that
 * decides all of these.
 */
export function baseKey(input: Omit<DebootstrapInput, "log" | "signal" | "strictSuites">, suites: readonly SuiteSource[], tools: { mmdebstrap: string; qemuUser: string; code: string }): string {
  const args = mmdebstrapArgs({ ...input, target: "TARGET" }, suites);
  return sha256Text(JSON.stringify({ format: 1, args, epoch: input.epoch, ...tools }));
}

export interface BaseMeta {
  key: string;
  /** when mmdebstrap made it (ms since the epoch) */
  made: number;
  usedSuites: string[];
}

const files = (key: string) => ({ tar: join(baseDir(), `${key}.tar`), meta: join(baseDir(), `${key}.json`) });

/** Unpack the base with this key into target (which must not exist); undefined when there is none to use. */
export async function restoreBase(key: string, target: string, log: StageLog, signal?: AbortSignal): Promise<BaseMeta | undefined> {
  const f = files(key);
  if (!existsSync(f.tar) || !existsSync(f.meta)) return undefined;
  let meta: BaseMeta;
  try {
    meta = JSON.parse(await readFile(f.meta, "utf8")) as BaseMeta;
  } catch {
    await drop(key, "its record is unreadable", log);
    return undefined;
  }
  const ageDays = (Date.now() - meta.made) / 86_400_000;
  if (!(ageDays <= MAX_AGE_DAYS)) {
    await drop(key, `it is ${Math.floor(ageDays)} days old (more than ${MAX_AGE_DAYS}): made again with the mirrors' current packages`, log);
    return undefined;
  }
  try {
    await mkdir(target, { recursive: true });
    await run("tar", ["--extract", "--file", f.tar, "--same-permissions", "--same-owner", ...TAR_OPTS, "-C", target], { log, what: "unpacking the cached Debian base", signal });
  } catch (err) {
    await rm(target, { recursive: true, force: true });
    if (signal?.aborted || !(err instanceof CommandError)) throw err;
    // Only an archive tar cannot read is dropped; a full disk here is not the entry's fault.
    const readable = await run("tar", ["--list", "--file", f.tar], { log, what: "reading the cached Debian base" }).then(() => true, () => false);
    if (!readable) await drop(key, "its archive is damaged", log);
    else log.write(`# the cached Debian base ${key} could not be unpacked here: running mmdebstrap`);
    return undefined;
  }
  // Pruning keeps the most recently used; a prune racing this one is harmless.
  const now = new Date();
  await utimes(f.tar, now, now).catch(() => undefined);
  return meta;
}

async function drop(key: string, why: string, log: StageLog): Promise<void> {
  log.write(`# the cached Debian base ${key} is not used: ${why}`);
  const f = files(key);
  await Promise.all([rm(f.tar, { force: true }), rm(f.meta, { force: true })]).catch(() => undefined);
}

/** Keep root (mmdebstrap's fresh output) as the base for this key. Failing to is only logged. */
export async function saveBase(key: string, root: string, result: DebootstrapResult, pinnedEpoch: boolean, log: StageLog, signal?: AbortSignal): Promise<void> {
  if (result.dropped.length > 0) return log.write("# the Debian base is not kept: a suite was left out, and the next build tries it again");
  if (!pinnedEpoch) return log.write("# the Debian base is not kept: its timestamp is the time of this build (no kernel build, no SOURCE_DATE_EPOCH), which no later build matches");
  const f = files(key);
  const tmp = tempSibling(f.tar);
  try {
    await mkdir(baseDir(), { recursive: true });
    await run("tar", ["--create", "--file", tmp, ...TAR_OPTS, "-C", root, "."], { log, what: "keeping the Debian base", signal });
    await rename(tmp, f.tar);
    // The record last: a base counts only once both are there.
    const meta: BaseMeta = { key, made: Date.now(), usedSuites: result.usedSuites };
    await writeFileAtomic(f.meta, `${JSON.stringify(meta, null, 2)}\n`);
    log.write(`# the Debian base is kept for the next build with the same packages: ${f.tar}`);
  } catch (err) {
    log.write(`# WARNING: the Debian base was not kept: ${(err as Error).message.split("\n")[0] ?? ""}`);
    await rm(tmp, { force: true });
    if (signal?.aborted) throw err;
  }
  await prune(log).catch((err: Error) => log.write(`# cleaning ${baseDir()}: ${err.message}`));
}

/** Only the newest bases stay (each is a whole Debian root), and nothing a killed save left. */
async function prune(log: StageLog): Promise<void> {
  const dir = baseDir();
  const names = await readdir(dir);
  const hourAgo = Date.now() - 3_600_000;
  for (const n of names.filter((x) => x.startsWith(".") && x.includes(".tmp-"))) {
    const st = await stat(join(dir, n)).catch(() => undefined);
    if (st && st.mtimeMs < hourAgo) await rm(join(dir, n), { force: true });
  }
  const tars = names.filter((x) => /^[0-9a-f]{64}\.tar$/.test(x));
  for (const n of names.filter((x) => /^[0-9a-f]{64}\.json$/.test(x))) {
    if (!tars.includes(n.replace(/\.json$/, ".tar"))) await rm(join(dir, n), { force: true });
  }
  const dated = await Promise.all(tars.map(async (n) => ({ n, used: (await stat(join(dir, n)).catch(() => ({ mtimeMs: 0 }))).mtimeMs })));
  for (const { n } of beyondNewest(dated, KEEP)) {
    log.write(`# removing an older cached Debian base: ${n}`);
    await Promise.all([rm(join(dir, n), { force: true }), rm(join(dir, n.replace(/\.tar$/, ".json")), { force: true })]);
  }
}
