import { existsSync } from "node:fs";
import { InputError } from "../errors.js";
import { freeMiB } from "../fsutil.js";
import type { BuildContext, Stage } from "./contract.js";

/**
 * Part of the pre-flight: room on the output directory's file system for every
 * stage that will surely run (its outputs missing, or --force). A stage whose
 * outputs exist may well be up to date; it is not counted, so a no-op build
 * never fails for space.
 */
export async function requireDiskSpace(ctx: BuildContext, stages: readonly Pick<Stage<never, unknown>, "name" | "diskMiB" | "outputs">[]): Promise<void> {
  const toRun = stages.filter((s) => ctx.force.includes(s.name) || !s.outputs(ctx).every((f) => existsSync(f)));
  const need = toRun.reduce((sum, s) => sum + s.diskMiB, 0);
  if (need === 0) return;
  const free = await freeMiB(ctx.outDir);
  if (free < need) {
    throw new InputError(`not enough disk space for ${toRun.map((s) => s.name).join(", ")} in ${ctx.outDir}: ${free} MiB free, about ${need} MiB needed`, "free some space there, or give --out on a larger file system");
  }
}
