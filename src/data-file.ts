/**
 * kiln's YAML data files (board.yaml, rootfs profiles), parsed and validated
 * once per content: the validated value is remembered by the file's identity
 * and the validating code's hash (stat-memo.ts). A no-op build then loads
 * neither the YAML parser nor the schema library, which is a third of its
 * start-up time; any change to the file or to the schema validates again.
 */
import { readFile } from "node:fs/promises";
import { InputError } from "./errors.js";
import { engineHash } from "./stage/engine.js";
import { memoByStat } from "./stat-memo.js";

/** Zod's issues, one line each, as kiln prints them under the file name. */
export function formatIssues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues.map((i) => `  - ${i.path.map(String).join(".") || "(top)"}: ${i.message}`).join("\n");
}

/** The YAML of `file` as plain data, or an InputError naming the file. */
export async function readYaml(file: string): Promise<unknown> {
  const { parse } = await import("yaml");
  try {
    return parse(await readFile(file, "utf8")) as unknown;
  } catch (err) {
    throw new InputError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
}

/**
 * `validate(file)` (which reads and checks the file and returns plain JSON
 * data), or what it returned for this very file content and schema before.
 * `schemaModule` is the validating code, relative to src/ (as engineHash takes it).
 */
export async function loadDataFile<T>(file: string, schemaModule: string, validate: (file: string) => Promise<T>): Promise<T> {
  const kind = `validated ${await engineHash(schemaModule)}`;
  return JSON.parse(await memoByStat(kind, file, async () => JSON.stringify(await validate(file)))) as T;
}
