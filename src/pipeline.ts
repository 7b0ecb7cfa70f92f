/**
 * The whole build on one screen: pre-flight for every stage that will run,
 * then config -> kernel -> rootfs (when the board has one and no --ramdisk
 * is given) -> image, stopping after `until`. Each stage is run, skipped or
 * taken from the cache by the one runner (stage/runner.ts), under the output
 * directory's lock.
 */
import { configStage, type ConfigResult } from "./stages/config.js";
import { imageStage, type ImageResult } from "./stages/image.js";
import { kernelStage, type KernelResult } from "./stages/kernel.js";
import { rootfsStage, type RootfsResult } from "./stages/rootfs.js";
import { type BuildContext, type Stage, STAGES, type StageName, type StageOutcome } from "./stage/contract.js";
import { type Display, silentDisplay } from "./stage/display.js";
import { withLock } from "./stage/lock.js";
import { requireDiskSpace } from "./stage/disk-space.js";
import { runStage } from "./stage/runner.js";

export interface BuildResult {
  stages: StageOutcome[];
  config?: ConfigResult;
  kernel?: KernelResult;
  rootfs?: RootfsResult;
  image?: ImageResult;
  /** said once, e.g. a stale lock taken over */
  notes: string[];
}

/** The stages a build up to `until` runs, in order. */
export function plannedStages(ctx: BuildContext, until: StageName): StageName[] {
  const withRootfs = ctx.board.rootfs !== undefined && ctx.ramdisk === undefined;
  return STAGES.slice(0, STAGES.indexOf(until) + 1).filter((s) => s !== "rootfs" || withRootfs);
}

/**
 * `noDeps`: run only the `until` stage; the earlier ones' results are read from
 * the output directory as they are (`kiln image --no-deps` on a kernel built elsewhere).
 */
export async function build(ctx: BuildContext, until: StageName = "image", display: Display = silentDisplay, noDeps = false): Promise<BuildResult> {
  const chain = plannedStages(ctx, until);
  const planned = noDeps ? chain.filter((s) => s === until) : chain;
  const stage = { config: configStage, kernel: kernelStage, rootfs: rootfsStage, image: imageStage };
  for (const name of planned) await stage[name].preflight(ctx);
  await requireDiskSpace(ctx, planned.map((name) => stage[name]));
  return withLock(ctx.outDir, async (lockNote) => {
    const r: BuildResult = { stages: [], notes: lockNote ? [lockNote] : [] };
    const step = async <Up, R>(s: Stage<Up, R>, up: Up): Promise<R> => {
      if (!planned.includes(s.name)) return s.result(ctx, up);
      const { outcome, result } = await runStage(s, ctx, up, display);
      r.stages.push(outcome);
      return result;
    };
    r.config = await step(configStage, {});
    if (until === "config") return r;
    r.kernel = await step(kernelStage, { config: r.config });
    if (until === "kernel") return r;
    if (chain.includes("rootfs")) r.rootfs = await step(rootfsStage, { kernel: r.kernel });
    if (until === "rootfs") return r;
    r.image = await step(imageStage, { kernel: r.kernel, ramdisk: ctx.ramdisk ?? r.rootfs?.ramdisk });
    return r;
  });
}
