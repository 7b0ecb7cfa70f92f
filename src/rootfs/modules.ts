/**
 * Kernel modules from the kernel stage's staging directory: the board's list
 * with everything modules.dep says they need (or all of them), indexed with
 * depmod at build time so that /init's modprobe needs no depmod.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, readdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { run, type StageLog } from "../exec.js";

export interface ModuleIndex {
  /** module name (dashes as underscores) -> path relative to the modules dir */
  paths: Map<string, string>;
  /** relative path -> relative paths it depends on */
  deps: Map<string, string[]>;
  builtin: Set<string>;
}

export function moduleName(path: string): string {
  return basename(path).replace(/\.ko(\.(xz|gz|zst))?$/, "").replace(/-/g, "_");
}

export function parseModulesDep(dep: string, builtin: string): ModuleIndex {
  const paths = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of dep.split("\n")) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const mod = m[1] as string;
    paths.set(moduleName(mod), mod);
    deps.set(mod, (m[2] ?? "").split(/\s+/).filter(Boolean));
  }
  const b = new Set(builtin.split("\n").map((l) => l.trim()).filter(Boolean).map(moduleName));
  return { paths, deps, builtin: b };
}

export interface ModuleSelection {
  files: string[];
  builtin: string[];
  missing: string[];
}

export function selectModules(index: ModuleIndex, wanted: readonly string[]): ModuleSelection {
  const files = new Set<string>();
  const builtin: string[] = [];
  const missing: string[] = [];
  const add = (rel: string) => {
    if (files.has(rel)) return;
    files.add(rel);
    for (const d of index.deps.get(rel) ?? []) add(d);
  };
  for (const w of wanted) {
    const name = w.replace(/-/g, "_");
    const rel = index.paths.get(name);
    if (rel) add(rel);
    else if (index.builtin.has(name)) builtin.push(w);
    else missing.push(w);
  }
  return { files: [...files].sort(), builtin, missing };
}

export interface StagedModules extends ModuleSelection {
  release: string;
}

const INDEX_FILES = ["modules.builtin", "modules.builtin.modinfo", "modules.order"];

export async function stageModules(modulesDir: string, release: string, root: string, wanted: readonly string[] | "all", log: StageLog): Promise<StagedModules> {
  const dest = join(root, "lib", "modules", release);
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  const read = (f: string) => readFile(join(modulesDir, f), "utf8").catch(() => "");
  const index = parseModulesDep(await read("modules.dep"), await read("modules.builtin"));
  const sel: ModuleSelection =
    wanted === "all" ? { files: [...index.deps.keys()].sort(), builtin: [], missing: [] } : selectModules(index, wanted);
  for (const rel of sel.files) {
    await mkdir(dirname(join(dest, rel)), { recursive: true });
    await copyFile(join(modulesDir, rel), join(dest, rel));
  }
  for (const f of INDEX_FILES) if (existsSync(join(modulesDir, f))) await copyFile(join(modulesDir, f), join(dest, f));
  // Host depmod indexes foreign-arch modules as the kernel's modules_install does.
  await run("depmod", ["-b", root, release], { log, what: "depmod for the staged modules", hint: "depmod comes with kmod" });
  log.write(`# modules: ${sel.files.length} staged, built in: ${sel.builtin.join(" ") || "-"}, missing: ${sel.missing.join(" ") || "-"}`);
  return { ...sel, release };
}

/** Every file under the modules dir with its size, for the stage's input hash (build/source links left out). */
export async function modulesFingerprint(modulesDir: string | undefined): Promise<string[]> {
  if (!modulesDir || !existsSync(modulesDir)) return [];
  const entries = await readdir(modulesDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(modulesDir.length + 1))
    .sort();
}
