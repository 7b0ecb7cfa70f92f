/**
 * Records of from-scratch proofs, so that a run with warm caches does not redo
 * one whose every input is what an earlier run proved it with (Bazel keeps
 * test results the same way). Only for the tests whose whole point is "build
 * again from nothing and get the same bytes" (a clean kernel build, a forced
 * mmdebstrap): with the same inputs, the same build gives the same answer.
 *
 * A record's key covers the test's own source, the shared build's stamps (their
 * inputs: .config, sources, compiler, profile, mirrors, tool versions, kiln's
 * engine hash) and the bytes the proof compared against, so any change to what
 * the proof depends on, or a shared build whose bytes differ from what was
 * proven, runs it again. A test that uses a record is reported as skipped, with
 * the record's date, never as passed. KILN_REPROVE=1 ignores the records; a
 * machine with empty caches has none.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/fsutil.js";
import { cacheDir } from "../../src/paths.js";

export interface ProofRecord {
  key: string;
  provenAt: string;
  facts: Record<string, string>;
}

const proofsDir = () => join(cacheDir(), "proofs");
const recordFile = (name: string) => join(proofsDir(), `${name}.json`);

export const sha256File = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

/** A stable key for named parts (the order they are given in does not matter). */
export function proofKey(parts: Record<string, string>): string {
  const sorted = Object.keys(parts)
    .sort()
    .map((k) => [k, parts[k]]);
  return createHash("sha256").update(JSON.stringify(sorted)).digest("hex");
}

/** The inputs an output directory's stamps record for these stages (a stage never built there counts as "none"). */
export function stampInputs(outDir: string, stages: readonly string[]): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const stage of stages) {
    const f = join(outDir, "stamps", `${stage}.json`);
    parts[`stamp ${stage}`] = existsSync(f) ? JSON.stringify((JSON.parse(readFileSync(f, "utf8")) as { inputs: unknown }).inputs) : "none";
  }
  return parts;
}

/** The names in a directory, sorted ("none" when it does not exist): what a cache directory holds. */
export function listing(dir: string): string {
  return existsSync(dir) ? readdirSync(dir).sort().join("\n") : "none";
}

/** The record proving `name` with exactly this key, unless KILN_REPROVE is set. */
export function earlierProof(name: string, key: string): ProofRecord | undefined {
  if (process.env.KILN_REPROVE) return undefined;
  const f = recordFile(name);
  if (!existsSync(f)) return undefined;
  const r = JSON.parse(readFileSync(f, "utf8")) as ProofRecord;
  return r.key === key ? r : undefined;
}

/** Called last in a proof's test, after every assertion held. */
export async function recordProof(name: string, key: string, facts: Record<string, string>): Promise<void> {
  const r: ProofRecord = { key, provenAt: new Date().toISOString(), facts };
  await writeFileAtomic(recordFile(name), `${JSON.stringify(r, null, 2)}\n`);
}

/** The note a test skipped for a record gives (shown by the reporters). */
export const provenNote = (r: ProofRecord, what: string): string =>
  `proven ${r.provenAt} by ${what} with the same inputs; not run again (KILN_REPROVE=1 runs it)`;
