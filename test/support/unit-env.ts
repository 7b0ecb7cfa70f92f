/**
 * Each unit or tools test file gets kiln's cache and state directories inside the
 * run's temporary directory, so these tiers never write under ~/.cache/kiln or
 * ~/.local/state/kiln (a setup file: it changes only this file's worker, not the
 * e2e and qemu tiers of the same run, which use the real caches).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const base = process.env.KILN_TEST_TMP;
if (base) {
  for (const [name, sub] of [["KILN_CACHE_DIR", "unit-cache"], ["KILN_STATE_DIR", "unit-state"]] as const) {
    process.env[name] = join(base, sub);
    mkdirSync(join(base, sub), { recursive: true });
  }
}
