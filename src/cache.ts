/**
 * Stage stamps: a stage is skipped only when the manifest of its inputs equals
 * the one saved with its outputs, and every output is still what the stage
 * made (sha256, checked by size and mtime first so a no-op build stays cheap).
 * When it does run, the reasons say which input or output changed.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { lstat, readdir, readFile, readlink, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { writeFileAtomic } from "./fsutil.js";
import { memoByStat } from "./stat-memo.js";

export type Inputs = Record<string, string>;

export interface OutputRecord {
  sha256: string;
  /** size and mtime (of every file, for a directory): when equal, the content is taken as unchanged */
  quick: string;
}

export interface Stamp {
  stage: string;
  version: 2;
  inputs: Inputs;
  /** keyed by the path relative to the output directory */
  outputs: Record<string, OutputRecord>;
  finishedAt: string;
}

/** A file's sha256, read again only when the file's identity changed (see stat-memo.ts). */
export async function sha256File(path: string): Promise<string> {
  return memoByStat("sha256", path, async () => {
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return hash.digest("hex");
  });
}

export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** One key for a set of inputs, independent of the order they were listed in. */
export function inputsKey(stage: string, inputs: Inputs): string {
  const sorted = Object.keys(inputs)
    .sort()
    .map((k) => [k, inputs[k]]);
  return sha256Text(JSON.stringify([stage, sorted]));
}

export function stampPath(outDir: string, stage: string): string {
  return join(outDir, "stamps", `${stage}.json`);
}

async function walk(path: string, base: string, out: string[]): Promise<void> {
  const st = await lstat(path);
  if (!st.isDirectory()) {
    out.push(relative(base, path));
    return;
  }
  for (const name of (await readdir(path)).sort()) await walk(join(path, name), base, out);
}

async function filesOf(path: string): Promise<string[]> {
  const files: string[] = [];
  await walk(path, path, files);
  return files;
}

async function quickId(path: string): Promise<string> {
  const st = await lstat(path);
  if (!st.isDirectory()) return `${st.size}:${Math.floor(st.mtimeMs)}`;
  const parts: string[] = [];
  for (const f of await filesOf(path)) {
    const s = await lstat(join(path, f));
    parts.push(`${f} ${s.size}:${Math.floor(s.mtimeMs)}`);
  }
  return sha256Text(parts.join("\n"));
}

/** A file's sha256; a directory's is over its files' names, modes and contents. */
export async function contentHash(path: string): Promise<string> {
  const st = await lstat(path);
  if (st.isSymbolicLink()) return sha256Text(`link ${await readlink(path)}`);
  if (!st.isDirectory()) return sha256File(path);
  const parts: string[] = [];
  for (const f of await filesOf(path)) {
    const p = join(path, f);
    const s = await lstat(p);
    parts.push(`${f} ${(s.mode & 0o7777).toString(8)} ${s.isSymbolicLink() ? `-> ${await readlink(p)}` : await sha256File(p)}`);
  }
  return sha256Text(parts.join("\n"));
}

export async function recordOutputs(outDir: string, outputs: readonly string[]): Promise<Record<string, OutputRecord>> {
  const records: Record<string, OutputRecord> = {};
  for (const o of outputs) records[relative(outDir, o)] = { sha256: await contentHash(o), quick: await quickId(o) };
  return records;
}

export interface Freshness {
  fresh: boolean;
  /** Why the stage must run: changed inputs, changed or missing outputs, or "never built". */
  why: string[];
}

export async function readStamp(outDir: string, stage: string): Promise<Stamp | undefined> {
  try {
    const s = JSON.parse(await readFile(stampPath(outDir, stage), "utf8")) as Partial<Stamp>;
    return s.version === 2 && s.inputs && s.outputs ? (s as Stamp) : undefined;
  } catch {
    return undefined;
  }
}

export async function checkStamp(outDir: string, stage: string, inputs: Inputs): Promise<Freshness> {
  if (!existsSync(stampPath(outDir, stage))) return { fresh: false, why: ["never built"] };
  const stamp = await readStamp(outDir, stage);
  if (!stamp) return { fresh: false, why: ["its stamp is from an older kiln"] };
  const why: string[] = [];
  for (const key of new Set([...Object.keys(inputs), ...Object.keys(stamp.inputs)])) {
    if (inputs[key] !== stamp.inputs[key]) why.push(`${key} changed`);
  }
  for (const [rel, rec] of Object.entries(stamp.outputs)) {
    const path = join(outDir, rel);
    if (!existsSync(path)) why.push(`${rel} is missing`);
    else if ((await quickId(path)) !== rec.quick && (await contentHash(path)) !== rec.sha256) why.push(`output ${rel} changed since it was built`);
  }
  return { fresh: why.length === 0, why };
}

export async function writeStamp(outDir: string, stage: string, inputs: Inputs, outputs: readonly string[]): Promise<void> {
  const stamp: Stamp = { stage, version: 2, inputs, outputs: await recordOutputs(outDir, outputs), finishedAt: new Date().toISOString() };
  await writeFileAtomic(stampPath(outDir, stage), `${JSON.stringify(stamp, null, 2)}\n`);
}

/** A stage that failed or was interrupted has no stamp: the next build runs it again. */
export async function removeStamp(outDir: string, stage: string): Promise<void> {
  await rm(stampPath(outDir, stage), { force: true });
}
