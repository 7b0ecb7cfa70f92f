/**
 * The Debian part of a root (what mmdebstrap made, before kiln adds anything)
 * kept in ~/.cache/kiln/rootfs-base, keyed by everything mmdebstrap is given.
 * mmdebstrap is most of a root filesystem's build time (every package script
 * runs under qemu-user), and its output depends on none of what differs
 * between boards of one architecture or between kernel variants: the AX3,
 * qemu-virt and a qemu-virt kernel variant share one base, and a change to
 * kiln's templates, keys or modules packs a root again without running it.
 *
 * A base is a tar (numeric owners, modes, hard links, device nodes, extended
 * attributes), written under a temporary name and renamed, with what
 * mmdebstrap reported beside it. A base made while a suite could not be
 * downloaded is not kept: the next build tries the network again.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { sha256Text } from "../cache.js";
import { run, type StageLog } from "../exec.js";
import { tempSibling, writeFileAtomic } from "../fsutil.js";
import { cacheDir } from "../paths.js";
import type { DebootstrapResult } from "./mmdebstrap.js";

/** Bases kept: the default and bench profiles, and room for a change to either. */
const KEEP = 4;

const TAR_OPTS = ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"];

export function baseDir(): string {
  return join(cacheDir(), "rootfs-base");
}

/**
 * The key of a base: mmdebstrap's full command line (packages, variant,
 * suites and mirrors, dpkg options, hooks), its version, the timestamp it
 * builds with, and the code that decides all of these.
 */
export function baseKey(parts: { args: readonly string[]; mmdebstrap: string; epoch: number; code: string }): string {
  return sha256Text(JSON.stringify({ format: 1, ...parts }));
}

interface Meta {
  key: string;
  result: Pick<DebootstrapResult, "usedSuites" | "attempts" | "downloaded" | "cached">;
}

/** Unpack the base with this key into target (which must not exist); undefined when there is none. */
export async function restoreBase(key: string, target: string, log: StageLog): Promise<Meta["result"] | undefined> {
  const tar = join(baseDir(), `${key}.tar`);
  const metaFile = join(baseDir(), `${key}.json`);
  if (!existsSync(tar) || !existsSync(metaFile)) return undefined;
  try {
    const meta = JSON.parse(await readFile(metaFile, "utf8")) as Meta;
    await mkdir(target, { recursive: true });
    await run("tar", ["--extract", "--file", tar, "--same-permissions", "--same-owner", ...TAR_OPTS, "-C", target], { log, what: "unpacking the cached Debian base" });
    // Pruning keeps the most recently used.
    const now = new Date();
    await utimes(tar, now, now);
    return meta.result;
  } catch (err) {
    // A damaged entry is dropped, and mmdebstrap makes the base again.
    log.write(`# the cached Debian base ${key} could not be used (${(err as Error).message.split("\n")[0] ?? ""}): removed, running mmdebstrap`);
    await rm(target, { recursive: true, force: true });
    await Promise.all([rm(tar, { force: true }), rm(metaFile, { force: true })]);
    return undefined;
  }
}

/** Keep root (mmdebstrap's fresh output) as the base for this key. Failing to is only logged. */
export async function saveBase(key: string, root: string, result: DebootstrapResult, log: StageLog): Promise<void> {
  if (result.dropped.length > 0) {
    log.write("# the Debian base is not kept: a suite was left out, and the next build tries it again");
    return;
  }
  const tar = join(baseDir(), `${key}.tar`);
  const tmp = tempSibling(tar);
  try {
    await mkdir(baseDir(), { recursive: true });
    await run("tar", ["--create", "--file", tmp, ...TAR_OPTS, "-C", root, "."], { log, what: "keeping the Debian base" });
    const meta: Meta = { key, result: { usedSuites: result.usedSuites, attempts: result.attempts, downloaded: result.downloaded, cached: result.cached } };
    await writeFileAtomic(join(baseDir(), `${key}.json`), `${JSON.stringify(meta, null, 2)}\n`);
    await rename(tmp, tar);
    await prune(log);
  } catch (err) {
    log.write(`# WARNING: the Debian base was not kept: ${(err as Error).message.split("\n")[0] ?? ""}`);
    await rm(tmp, { force: true });
  }
}

/** Only the newest bases stay (each is a whole Debian root). */
async function prune(log: StageLog): Promise<void> {
  const dir = baseDir();
  const tars = (await readdir(dir)).filter((f) => /^[0-9a-f]{64}\.tar$/.test(f));
  const dated = await Promise.all(tars.map(async (f) => ({ f, t: (await stat(join(dir, f))).mtimeMs })));
  for (const { f } of dated.sort((a, b) => b.t - a.t).slice(KEEP)) {
    log.write(`# removing an older cached Debian base: ${f}`);
    await Promise.all([rm(join(dir, f), { force: true }), rm(join(dir, f.replace(/\.tar$/, ".json")), { force: true })]);
  }
}
