/**
 * Stage cache: a stage is skipped only when the manifest of its inputs equals
 * the one saved with its outputs, and every output still exists. When it does
 * run, the log says which input changed.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./fsutil.js";

export type Inputs = Record<string, string>;

export interface Stamp {
  stage: string;
  inputs: Inputs;
  outputs: string[];
  finishedAt: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export function stampPath(outDir: string, stage: string): string {
  return join(outDir, "stamps", `${stage}.json`);
}

export interface Freshness {
  fresh: boolean;
  /** Why the stage must run: changed input names, missing outputs, or "never built". */
  why: string[];
}

export async function checkStamp(outDir: string, stage: string, inputs: Inputs): Promise<Freshness> {
  const file = stampPath(outDir, stage);
  let stamp: Stamp;
  try {
    stamp = JSON.parse(await readFile(file, "utf8")) as Stamp;
  } catch {
    return { fresh: false, why: ["never built"] };
  }
  const why: string[] = [];
  for (const key of new Set([...Object.keys(inputs), ...Object.keys(stamp.inputs)])) {
    if (inputs[key] !== stamp.inputs[key]) why.push(`${key} changed`);
  }
  for (const out of stamp.outputs) if (!existsSync(out)) why.push(`${out} is missing`);
  return { fresh: why.length === 0, why };
}

export async function writeStamp(outDir: string, stage: string, inputs: Inputs, outputs: string[]): Promise<void> {
  const stamp: Stamp = { stage, inputs, outputs, finishedAt: new Date().toISOString() };
  await writeFileAtomic(stampPath(outDir, stage), `${JSON.stringify(stamp, null, 2)}\n`);
}
