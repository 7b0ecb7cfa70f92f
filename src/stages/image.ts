/** The image stage: the U-Boot uImage for the board's flash, verified and size-checked (see image/stage.ts). */
import { join } from "node:path";
import { StageLog } from "../exec.js";
import { type ImagePlan, type ImageResult, imageInputs, imagePaths, imagePreflight, makeImage, planImage } from "../image/stage.js";
import type { BuildContext, Stage } from "../stage/contract.js";
import type { KernelResult } from "./kernel.js";

export type { ImageResult };

export interface ImageUp {
  kernel: KernelResult;
  /** the one ramdisk choice of the pipeline; undefined: a modules-only initramfs */
  ramdisk: string | undefined;
}

const plans = new WeakMap<BuildContext, ImagePlan>();

async function plan(ctx: BuildContext, up: ImageUp): Promise<ImagePlan> {
  const known = plans.get(ctx);
  if (known) return known;
  const p = await planImage(ctx, up.kernel, up.ramdisk, new StageLog(join(ctx.outDir, "logs", "image-inputs.log")));
  plans.set(ctx, p);
  return p;
}

export const imageStage: Stage<ImageUp, ImageResult> = {
  name: "image",
  logName: "image.log",
  // mkimage over parts that are already built takes seconds: not worth a cache entry.
  cacheable: false,
  diskMiB: 300,
  title: (ctx) => `U-Boot image ${ctx.board.image?.output ?? ""} (mkimage, verified, size-checked)`,
  preflight: imagePreflight,
  inputs: async (ctx, up) => imageInputs(await plan(ctx, up)),
  outputs: (ctx) => Object.values(imagePaths(ctx.board, ctx.outDir)).filter((f): f is string => f !== undefined),
  run: async (ctx, up, io) => makeImage(await plan(ctx, up), io.log),
  async result(ctx, up) {
    const p = await plan(ctx, up);
    const { qemuFile } = imagePaths(ctx.board, ctx.outDir);
    return { file: p.file, ...(qemuFile ? { qemuFile } : {}), manifest: p.manifestFile, notes: p.notes };
  },
};
