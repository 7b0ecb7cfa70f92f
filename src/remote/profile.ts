/**
 * A unit's profile: what `kiln probe` read from one running board, saved under
 * kiln's state directory (never in the checkout), one file per unit (address and
 * host key). `kiln build --unit` reads it back for the board's real flash
 * layout, which only the board itself knows.
 */
import { existsSync, statSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { InputError } from "../errors.js";
import { stateDir } from "../paths.js";

export const UnitProfileSchema = z.object({
  hostKey: z.string(),
  host: z.string(),
  port: z.number().int(),
  probedAt: z.string(),
  model: z.string().optional(),
  cpuinfoHardware: z.string().optional(),
  release: z.string(),
  memoryKiB: z.number().optional(),
  mtd: z.array(z.object({ dev: z.string(), size: z.number().int().nonnegative(), eraseSize: z.number().int().nonnegative(), name: z.string() })),
  uploadDir: z.object({ path: z.string(), freeBytes: z.number().optional() }),
  flashcfg: z.object({ kind: z.string(), path: z.string().optional() }),
  matchesBuild: z.object({ manifest: z.string(), release: z.string(), same: z.boolean() }).optional(),
});

export type UnitProfile = z.infer<typeof UnitProfileSchema>;

export interface LoadedProfile {
  file: string;
  profile: UnitProfile;
}

export function unitsDir(): string {
  return join(stateDir(), "units");
}

/**
 * One file per unit: the host key and the address it was probed at. The key
 * alone is not unique: every unit flashed from one kiln build shows the same key.
 */
export function profileFile(hostKey: string, host?: string, port?: number): string {
  const at = host === undefined ? "" : `${host}_${port ?? 22}-`;
  return join(unitsDir(), `${`${at}${hostKey}`.replace(/[^A-Za-z0-9.-]/g, "_")}.json`);
}

export async function readProfile(file: string): Promise<LoadedProfile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new InputError(`${file} is not a readable probe profile: ${(err as Error).message}`, "probe the board again with `kiln probe --host H`");
  }
  const parsed = UnitProfileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
    throw new InputError(`${file} is not a probe profile: ${problems}`, "probe the board again with `kiln probe --host H`");
  }
  return { file, profile: parsed.data };
}

const unitLabel = (p: UnitProfile): string => `${p.host}:${p.port} (${p.hostKey})`;

/**
 * A unit is named as the user knows it: the host (or host:port) it was probed
 * at, its host key fingerprint (with or without "SHA256:"), or a profile file.
 * A name that several saved profiles share (a host probed at two ports, a key
 * that every unit of one build carries) is refused as ambiguous.
 */
export async function findUnitProfile(spec: string): Promise<LoadedProfile> {
  if (existsSync(spec) && statSync(spec).isFile()) return readProfile(resolve(spec));
  const dir = unitsDir();
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".json")).sort();
  // A broken file cannot be the unit asked for by host or key: it is left out, not fatal.
  const saved = (await Promise.all(files.map((f) => readProfile(join(dir, f)).catch(() => undefined))))
    .filter((p) => p !== undefined)
    .sort((a, b) => unitLabel(a.profile).localeCompare(unitLabel(b.profile)));
  const key = spec.replace(/^SHA256:/i, "");
  // Most specific first: units flashed from one build share a host key.
  const byAddress = saved.filter((s) => `${s.profile.host}:${s.profile.port}` === spec);
  const byHost = saved.filter((s) => s.profile.host === spec);
  const byKey = saved.filter((s) => s.profile.hostKey.replace(/^SHA256:/, "") === key);
  const matches = byAddress.length > 0 ? byAddress : byHost.length > 0 ? byHost : byKey;
  if (matches.length === 1) return matches[0] as LoadedProfile;
  if (matches.length === 0) {
    throw new InputError(
      `no probe profile for unit "${spec}" in ${dir}`,
      `probe it first: kiln probe --host ${spec}${saved.length > 0 ? `; probed units: ${saved.map((s) => unitLabel(s.profile)).join(", ")}` : ""}`,
    );
  }
  throw new InputError(`unit "${spec}" names ${matches.length} probed boards: ${matches.map((s) => unitLabel(s.profile)).join(", ")}`, "name the unit by host:port");
}
