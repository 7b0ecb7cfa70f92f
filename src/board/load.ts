import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { closest, distance } from "fastest-levenshtein";
import { formatIssues, loadDataFile, readYaml } from "../data-file.js";
import { InputError } from "../errors.js";
import { dataDir } from "../paths.js";
import type { Board } from "./schema.js";

export { formatIssues };

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
  const data = await loadDataFile(file, "board/schema.js", async (f) => {
    const { BoardSchema } = await import("./schema.js");
    const parsed = BoardSchema.safeParse(await readYaml(f));
    if (!parsed.success) {
      throw new InputError(`${f}: invalid board definition:\n${formatIssues(parsed.error)}`, "see `kiln boards --schema`");
    }
    return parsed.data;
  });
  const fragmentFile = join(dir, "kernel.config");
  return { ...data, name, dir, fragmentFile: existsSync(fragmentFile) ? fragmentFile : undefined };
}

export async function boardJsonSchema(): Promise<unknown> {
  const [{ z }, { BoardSchema }] = await Promise.all([import("zod"), import("./schema.js")]);
  return z.toJSONSchema(BoardSchema, { io: "input" });
}
