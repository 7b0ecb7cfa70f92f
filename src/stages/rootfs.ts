/** The rootfs stage: a Debian root for the board, packed as an initramfs (see rootfs/stage.ts). */
import { join } from "node:path";
import { StageLog } from "../exec.js";
import { buildRootfs, planRootfs, type RootfsPlan, type RootfsResult, rootfsInputs, rootfsOutputs, rootfsPaths, rootfsPreflight, rootfsResult } from "../rootfs/stage.js";
import type { Compression } from "../rootfs/pack.js";
import type { BuildContext, Stage } from "../stage/contract.js";
import type { KernelResult } from "./kernel.js";

export type { RootfsResult };

// The plan is read once per build (inputs, then run) and kept for that build only.
const plans = new WeakMap<BuildContext, RootfsPlan>();

async function plan(ctx: BuildContext, kernel: KernelResult | undefined): Promise<RootfsPlan> {
  const known = plans.get(ctx);
  if (known) return known;
  const p = await planRootfs(ctx, kernel, new StageLog(join(ctx.outDir, "logs", "rootfs-inputs.log")));
  plans.set(ctx, p);
  return p;
}

const compression = (ctx: BuildContext): Compression => ctx.board.image?.ramdiskCompression ?? "gzip";

export const rootfsStage: Stage<{ kernel: KernelResult | undefined }, RootfsResult> = {
  name: "rootfs",
  logName: "rootfs.log",
  cacheable: true,
  title: (ctx) => `Debian root with LXC (${ctx.rootfs?.profile ?? "default"} profile), packed as a ${compression(ctx)} initramfs`,
  preflight: (ctx) => rootfsPreflight(ctx.rootfs?.rootPassword !== undefined),
  inputs: async (ctx, { kernel }) => rootfsInputs(await plan(ctx, kernel)),
  outputs: (ctx) => rootfsOutputs({ outDir: ctx.outDir, paths: rootfsPaths(ctx.outDir, compression(ctx)) }),
  run: async (ctx, { kernel }, io) => buildRootfs(await plan(ctx, kernel), io.log, io.status, io.signal),
  result: (ctx) => rootfsResult(ctx.outDir, compression(ctx)),
};
