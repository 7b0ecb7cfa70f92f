import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { closest, distance } from "fastest-levenshtein";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { InputError } from "../errors.js";
import { dataDir } from "../paths.js";
import { type Board, BoardSchema } from "./schema.js";

export async function listBoards(root = dataDir("board")): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, "board.yaml")))
    .map((e) => e.name)
    .sort();
}

export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(word, candidates as string[]);
  return distance(word, best) <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export async function loadBoard(name: string, root = dataDir("board")): Promise<Board> {
  const dir = join(root, name);
  const file = join(dir, "board.yaml");
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name) || !existsSync(file)) {
    const boards = await listBoards(root);
    const near = suggest(name, boards);
    throw new InputError(
      `unknown board "${name}"${near ? ` (did you mean "${near}"?)` : ""}`,
      `boards are folders under ${root}: ${boards.join(", ") || "(none)"}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, "utf8"));
  } catch (err) {
    throw new InputError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = BoardSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InputError(`${file}: invalid board definition:\n${formatIssues(parsed.error)}`, "see `kiln boards --schema`");
  }
  const fragmentFile = join(dir, "kernel.config");
  return { ...parsed.data, name, dir, fragmentFile: existsSync(fragmentFile) ? fragmentFile : undefined };
}

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  - ${i.path.join(".") || "(top)"}: ${i.message}`).join("\n");
}

export function boardJsonSchema(): unknown {
  return z.toJSONSchema(BoardSchema, { io: "input" });
}
