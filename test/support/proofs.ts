/**
 * Records of from-scratch proofs, so that a run with warm caches does not redo
 * one whose every input is what an earlier run proved it with (Bazel keeps
 * test results the same way). Only for the tests whose whole point is "build
 * again from nothing and get the same bytes" (a clean kernel build, a forced
 * mmdebstrap).
 *
 * A record's key is what the proof depends on: the test's own source and the
 * support modules it builds through, the shared build's stamps (their inputs:
 * .config, sources, compiler, profile, mirrors, mmdebstrap's version, and each
 * stage's code as kiln's own stage cache hashes it), the versions of the host
 * packages whose tools make the bytes, and the bytes the proof compared against.
 * A test that uses a record is reported as skipped, with the record's date,
 * never as passed. A record older than its proof's limit is not used (a proof
 * that reads Debian's mirrors goes stale as they move). KILN_REPROVE=1 ignores
 * every record; a machine with empty caches has none.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { inputsKey, readStamp } from "../../src/cache.js";
import { writeFileAtomic } from "../../src/fsutil.js";
import { cacheDir } from "../../src/paths.js";

export interface ProofRecord {
  key: string;
  provenAt: string;
}

/** Records kept per proof: two checkouts on one machine (two branches) each keep theirs. */
const KEEP = 4;

const recordDir = (name: string) => join(cacheDir(), "proofs", name);
const recordFile = (name: string, key: string) => join(recordDir(name), `${key}.json`);

/** The sha256 of a file's bytes, read now (no memo: a proof trusts nothing it did not read). */
export const hashFile = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

/** A stable key for named parts (the order they are given in does not matter). */
export const proofKey = (parts: Record<string, string>): string => inputsKey("proof", parts);

/** The inputs an output directory's stamps record for these stages (a stage never built there counts as "none"). */
export async function stampInputs(outDir: string, stages: readonly string[]): Promise<Record<string, string>> {
  const parts: Record<string, string> = {};
  for (const stage of stages) {
    const s = await readStamp(outDir, stage);
    parts[`stamp ${stage}`] = s ? JSON.stringify(s.inputs) : "none";
  }
  return parts;
}

/** The installed versions of host packages ("name version" lines; a package not installed says so). */
export function hostPackages(names: readonly string[]): string {
  return names
    .map((n) => {
      try {
        return execFileSync("dpkg-query", ["-W", "-f=${Package} ${Version}", n], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      } catch {
        return `${n} not installed`;
      }
    })
    .join("\n");
}

/** The sha256 of test source files, by name relative to test/ (a proof's code beside the test itself). */
export function testSources(files: readonly string[]): string {
  const root = join(import.meta.dirname, "..");
  return files.map((f) => `${f} ${hashFile(join(root, f))}`).join("\n");
}

/** The .deb files in a directory, sorted ("none" when it does not exist). */
export function debFiles(dir: string): string {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".deb")).sort().join("\n") : "none";
}

function reproveAll(): boolean {
  const v = process.env.KILN_REPROVE;
  return v !== undefined && v !== "" && v !== "0";
}

/** The record proving `name` with exactly this key and younger than maxAgeDays, unless KILN_REPROVE is set. */
export function earlierProof(name: string, key: string, maxAgeDays = Infinity): ProofRecord | undefined {
  if (reproveAll()) return undefined;
  const f = recordFile(name, key);
  if (!existsSync(f)) return undefined;
  let r: ProofRecord;
  try {
    r = JSON.parse(readFileSync(f, "utf8")) as ProofRecord;
  } catch {
    return undefined; // a record that cannot be read proves nothing: the proof runs again
  }
  const ageDays = (Date.now() - Date.parse(r.provenAt)) / 86_400_000;
  return r.key === key && ageDays >= 0 && ageDays <= maxAgeDays ? r : undefined;
}

/** Called last in a proof's test, after every assertion held; keeps the newest KEEP records of the proof. */
export async function recordProof(name: string, key: string): Promise<void> {
  const r: ProofRecord = { key, provenAt: new Date().toISOString() };
  await writeFileAtomic(recordFile(name, key), `${JSON.stringify(r, null, 2)}\n`);
  const dir = recordDir(name);
  const byAge = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const old of byAge.slice(KEEP)) rmSync(join(dir, old.f), { force: true });
}

/** The note a test skipped for a record gives (shown by the reporters). */
export const provenNote = (r: ProofRecord, what: string): string =>
  `proven ${r.provenAt} by ${what} with the same inputs; not run again (KILN_REPROVE=1 runs it)`;
