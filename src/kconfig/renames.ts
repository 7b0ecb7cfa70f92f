/**
 * The same feature has had different names over kernel history. Fragments may
 * use any of them; this module maps each request onto the name the kernel in use
 * defines, or says the feature is gone (and whether its job is built in now).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { formatIssues } from "../board/load.js";
import { InputError } from "../errors.js";
import { dataDir } from "../paths.js";

const RenameEntry = z
  .object({
    names: z.array(z.string().regex(/^[A-Za-z0-9_]+$/)).min(1),
    gone: z.string().optional(),
    builtInWhen: z.string().optional(),
    note: z.string().optional(),
  })
  .strict();
export type RenameEntry = z.infer<typeof RenameEntry>;
const RenameTable = z.array(RenameEntry);

export async function loadRenames(file = join(dataDir("kconfig"), "renames.yaml")): Promise<RenameEntry[]> {
  const parsed = RenameTable.safeParse(parseYaml(await readFile(file, "utf8")));
  if (!parsed.success) throw new InputError(`${file}: invalid rename table:\n${formatIssues(parsed.error)}`);
  return parsed.data;
}

export type Resolution =
  | { kind: "defined"; name: string }
  | { kind: "renamed"; name: string; from: string; note: string | undefined }
  | { kind: "gone"; entry: RenameEntry }
  | { kind: "unknown" };

export function resolveSymbol(requested: string, table: readonly RenameEntry[], defined: (name: string) => boolean): Resolution {
  if (defined(requested)) return { kind: "defined", name: requested };
  const entry = table.find((e) => e.names.includes(requested));
  if (!entry) return { kind: "unknown" };
  // Prefer the newest name the tree knows: a tree with both (e.g. 4.12-4.20 had
  // CFQ and BFQ) gets the requested one above, otherwise the successor.
  const known = [...entry.names].reverse().find((n) => defined(n));
  if (known) return { kind: "renamed", name: known, from: requested, note: entry.note };
  if (entry.gone !== undefined) return { kind: "gone", entry };
  return { kind: "unknown" };
}
