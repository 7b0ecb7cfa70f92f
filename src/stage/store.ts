/**
 * The content-addressed stage cache in ~/.cache/kiln/stages: a stage's outputs
 * filed under the hash of its inputs (the same manifest the stamps use, never
 * a path), so a second output directory or a second clone on this machine
 * takes a kernel or a root filesystem built before instead of building it again.
 */
import { existsSync } from "node:fs";
import { cp, lstat, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { randomBytes } from "node:crypto";
import { type Inputs, inputsKey } from "../cache.js";
import { beyondNewest } from "../fsutil.js";
import { cacheDir } from "../paths.js";

/**
 * Entries kept per stage, the least recently used go first: enough for a few
 * boards and variants (the test suite alone keeps four root filesystems), not a
 * disk's worth. A config is a few kB, a kernel tens of MB, a root filesystem
 * 130-150 MB.
 */
const KEEP: Record<string, number> = { config: 64, kernel: 8, rootfs: 8 };

interface Meta {
  stage: string;
  outDir: string;
  outputs: string[];
  savedAt: string;
  /** the manifest the key was made from, so a miss can be explained by comparing entries */
  inputs?: Inputs;
}

export function storeRoot(): string {
  return join(cacheDir(), "stages");
}

function entryDir(stage: string, inputs: Inputs): string {
  return join(storeRoot(), stage, inputsKey(stage, inputs));
}

export function hasEntry(stage: string, inputs: Inputs): boolean {
  return existsSync(join(entryDir(stage, inputs), "meta.json"));
}

/** File a stage's outputs (absolute paths under outDir). A concurrent store of the same key is harmless. */
export async function storeOutputs(stage: string, inputs: Inputs, outDir: string, outputs: readonly string[]): Promise<void> {
  const dir = entryDir(stage, inputs);
  if (existsSync(join(dir, "meta.json"))) return;
  const tmp = `${dir}.tmp-${randomBytes(4).toString("hex")}`;
  try {
    const rels = outputs.map((o) => relative(outDir, o));
    for (const rel of rels) {
      const dest = join(tmp, "files", rel);
      await mkdir(dirname(dest), { recursive: true });
      await cp(join(outDir, rel), dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
    const meta: Meta = { stage, outDir, outputs: rels, savedAt: new Date().toISOString(), inputs };
    await writeFile(join(tmp, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
    await rename(tmp, dir).catch(() => undefined);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await prune(stage);
}

/**
 * Copy a cached entry's outputs into outDir. Manifests name files by absolute
 * path, so the old output directory is replaced by the new one in JSON files.
 */
export async function restoreOutputs(stage: string, inputs: Inputs, outDir: string): Promise<boolean> {
  const dir = entryDir(stage, inputs);
  let meta: Meta;
  try {
    meta = JSON.parse(await readFile(join(dir, "meta.json"), "utf8")) as Meta;
  } catch {
    return false;
  }
  for (const rel of meta.outputs) {
    const dest = join(outDir, rel);
    const tmp = `${dest}.tmp-${randomBytes(4).toString("hex")}`;
    await mkdir(dirname(dest), { recursive: true });
    await cp(join(dir, "files", rel), tmp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    if (meta.outDir !== outDir) await rewriteJson(tmp, meta.outDir, outDir, dest.endsWith(".json"));
    await rm(dest, { recursive: true, force: true });
    await rename(tmp, dest);
  }
  const now = new Date();
  await utimes(join(dir, "meta.json"), now, now).catch(() => undefined);
  return true;
}

async function rewriteJson(path: string, from: string, to: string, isJson: boolean): Promise<void> {
  // lstat: a staged modules tree holds `build`, a link to the kernel's whole output directory (another build's):
  // following it walked ~180,000 files at every restore (7.5 s on an idle machine) and could rewrite JSON there.
  const st = await lstat(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    for (const name of await readdir(path)) await rewriteJson(join(path, name), from, to, name.endsWith(".json"));
    return;
  }
  if (!isJson) return;
  const text = await readFile(path, "utf8");
  const a = JSON.stringify(from).slice(1, -1);
  if (text.includes(a)) await writeFile(path, text.split(a).join(JSON.stringify(to).slice(1, -1)));
}

async function prune(stage: string): Promise<void> {
  const root = join(storeRoot(), stage);
  const entries: { dir: string; used: number }[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const st = await stat(join(root, name, "meta.json")).catch(() => undefined);
    if (st) entries.push({ dir: join(root, name), used: st.mtimeMs });
  }
  for (const e of beyondNewest(entries, KEEP[stage] ?? 4)) await rm(e.dir, { recursive: true, force: true });
}
