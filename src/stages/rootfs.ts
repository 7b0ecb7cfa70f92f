/** The rootfs stage: a Debian root for the board, packed as an initramfs (see rootfs/stage.ts). */
import { join } from "node:path";
import { StageLog } from "../exec.js";
import { rootfsOutputs, rootfsPaths } from "../rootfs/paths.js";
import type { RootfsPlan, RootfsResult } from "../rootfs/stage.js";
import type { Compression } from "../rootfs/pack.js";
import type { BuildContext, Stage } from "../stage/contract.js";
import type { KernelResult } from "./kernel.js";

export type { RootfsResult };

// The rootfs engine (mmdebstrap, SBOM, templates) is loaded only by builds that have this stage:
// a board without a root filesystem, or a no-op build, does not pay for it.
const engine = () => import("../rootfs/stage.js");

// The plan is read once per build (inputs, then run) and kept for that build only.
const plans = new WeakMap<BuildContext, RootfsPlan>();

async function plan(ctx: BuildContext, kernel: KernelResult | undefined): Promise<RootfsPlan> {
  const known = plans.get(ctx);
  if (known) return known;
  const p = await (await engine()).planRootfs(ctx, kernel, new StageLog(join(ctx.outDir, "logs", "rootfs-inputs.log")));
  plans.set(ctx, p);
  return p;
}

const compression = (ctx: BuildContext): Compression => ctx.board.image?.ramdiskCompression ?? "gzip";

export const rootfsStage: Stage<{ kernel: KernelResult | undefined }, RootfsResult> = {
  name: "rootfs",
  logName: "rootfs.log",
  cacheable: true,
  // The Debian tree before it is packed, the packed ramdisk, and its cached copy.
  diskMiB: 1500,
  title: (ctx) => `Debian root with LXC (${ctx.rootfs?.profile ?? "default"} profile), packed as a ${compression(ctx)} initramfs`,
  preflight: async (ctx) => (await engine()).rootfsPreflight(ctx.rootfs?.rootPassword !== undefined),
  inputs: async (ctx, { kernel }) => (await engine()).rootfsInputs(await plan(ctx, kernel)),
  outputs: (ctx) => rootfsOutputs({ outDir: ctx.outDir, paths: rootfsPaths(ctx.outDir, compression(ctx)) }),
  run: async (ctx, { kernel }, io) => (await engine()).buildRootfs(await plan(ctx, kernel), io.log, io.status, io.signal),
  result: async (ctx) => (await engine()).rootfsResult(ctx.outDir, compression(ctx)),
};
