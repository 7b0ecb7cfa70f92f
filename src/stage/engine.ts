/**
 * The engine's own code is an input of every stage: a changed stage re-runs
 * even on unchanged data. A stage's code is its module and every module it
 * imports, followed through the import statements (as compiled), so no file
 * list is kept by hand and a new import is covered the day it is written. Only
 * the plumbing below is left out: code that cannot change what a stage makes.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Text } from "../cache.js";

const codeRoot = fileURLToPath(new URL("..", import.meta.url));

/**
 * Modules every stage reaches whose changes cannot alter a stage's outputs:
 * errors and their hints, atomic file writes, the stamp cache, directories,
 * memos, data-file loading (the data files themselves are inputs), board
 * loading (board.yaml is an input; its schema, with the defaults, is not
 * plumbing), running commands and their logs, the kernel build's progress
 * display, and this file.
 */
export const PLUMBING: ReadonlySet<string> = new Set([
  "errors", "fsutil", "cache", "paths", "stat-memo", "data-file", "board/load", "exec", "kernel/progress", "stage/engine",
]);

/** Relative module specifiers a source imports for their code (type-only imports carry none). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^;"]*?from\s+"(\.{1,2}\/[^"]+)"|import\(\s*"(\.{1,2}\/[^"]+)"\s*\)|(?:^|\n)\s*import\s+"(\.{1,2}\/[^"]+)"/g;
  for (const m of source.matchAll(re)) {
    const spec = m[4] ?? m[5] ?? (m[2] ? undefined : m[3]);
    if (spec) out.push(spec);
  }
  return out;
}

/**
 * The modules `entry` reaches (names relative to the code root, without
 * extension), plumbing left out and not followed. `read` gives a module's
 * source, or undefined when there is no such module.
 */
export async function codeClosure(entry: string, read: (module: string) => Promise<string | undefined>): Promise<string[]> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const mod = todo.pop() as string;
    if (seen.has(mod) || PLUMBING.has(mod)) continue;
    const text = await read(mod);
    if (text === undefined) continue;
    seen.add(mod);
    for (const spec of importsOf(text)) todo.push(join(dirname(mod), spec).replace(/\.js$/, ""));
  }
  return [...seen].sort();
}

/** A module's source as run: compiled .js under dist/, or .ts when run from src/ (tests). */
async function readModule(mod: string): Promise<string | undefined> {
  for (const ext of [".js", ".ts"]) {
    const file = join(codeRoot, `${mod}${ext}`);
    if (existsSync(file)) return readFile(file, "utf8");
  }
  return undefined;
}

const stageHashes = new Map<string, Promise<string>>();

/** Hash of a stage's code: stages/<name> and everything it imports but the plumbing. */
export function stageEngineHash(stage: string): Promise<string> {
  let h = stageHashes.get(stage);
  if (!h) {
    h = (async () => {
      const mods = await codeClosure(`stages/${stage}`, readModule);
      const lines = await Promise.all(mods.map(async (m) => `${m} ${sha256Text((await readModule(m)) ?? "")}`));
      return sha256Text(lines.join("\n"));
    })();
    stageHashes.set(stage, h);
  }
  return h;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (/\.(js|ts|sh)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out.sort();
}

/** Hash of the named folders and files of the engine (paths relative to src/ or dist/): a memo's key. */
export async function engineHash(...parts: string[]): Promise<string> {
  const hashes: string[] = [];
  for (const part of parts) {
    const abs = join(codeRoot, part);
    // Run from src/ (tests), a module named x.js is x.ts.
    const file = part.endsWith(".js") && !existsSync(abs) ? abs.replace(/\.js$/, ".ts") : abs;
    const files = part.endsWith(".js") ? [file] : await filesUnder(abs);
    for (const f of files) hashes.push(`${relative(codeRoot, f)} ${sha256Text(await readFile(f, "utf8"))}`);
  }
  return sha256Text(hashes.join("\n"));
}
