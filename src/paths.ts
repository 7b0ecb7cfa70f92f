/**
 * Where kiln keeps things. Caches and state live outside the checkout so a clean
 * clone (CI) reuses an unpacked kernel tree or downloaded packages from earlier runs.
 */
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository (or installed package) root: board/, kconfig/, rootfs/ live here. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export function dataDir(kind: "board" | "kconfig" | "rootfs"): string {
  const override = process.env[`KILN_${kind.toUpperCase()}_DIR`];
  return override ? resolve(override) : join(projectRoot, kind);
}

export function cacheDir(): string {
  if (process.env.KILN_CACHE_DIR) return resolve(process.env.KILN_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(xdg, "kiln");
}

export function stateDir(): string {
  if (process.env.KILN_STATE_DIR) return resolve(process.env.KILN_STATE_DIR);
  const xdg = process.env.XDG_STATE_HOME || join(homedir(), ".local", "state");
  return join(xdg, "kiln");
}

/** Build output for one board; `--out` overrides. */
export function defaultOutDir(board: string): string {
  return resolve("out", board);
}
