/**
 * The engine's own code is an input of every stage: a changed stage re-runs
 * even on unchanged data. A stage's code is its whole folder (plus any shared
 * module it names), hashed as compiled, so no file list is kept by hand.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Text } from "../cache.js";

const codeRoot = fileURLToPath(new URL("..", import.meta.url));

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (/\.(js|ts|sh)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out.sort();
}

/** Hash of the named folders and files of the engine (paths relative to src/ or dist/). */
export async function engineHash(...parts: string[]): Promise<string> {
  const hashes: string[] = [];
  for (const part of parts) {
    const abs = join(codeRoot, part);
    // Run from src/ (tests), a module named x.js is x.ts.
    const file = part.endsWith(".js") && !existsSync(abs) ? abs.replace(/\.js$/, ".ts") : abs;
    const files = part.endsWith(".js") ? [file] : await filesUnder(abs);
    for (const f of files) hashes.push(`${f.slice(codeRoot.length)} ${sha256Text(await readFile(f, "utf8"))}`);
  }
  return sha256Text(hashes.join("\n"));
}
