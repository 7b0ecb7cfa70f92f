import { existsSync } from "node:fs";
import { join } from "node:path";
import { StageLog } from "../exec.js";
import { runImageStage } from "../image/stage.js";
import { stampPath } from "../cache.js";
import { rootfsPaths } from "../rootfs/stage.js";
import { buildOptions, type BuildCommandOptions, reportImage } from "./build.js";

export async function imageCommand(opts: BuildCommandOptions): Promise<void> {
  const b = await buildOptions(opts);
  // As --help says: the rootfs stage's ramdisk when that stage has run here, else
  // (no --ramdisk, no root filesystem) the image stage's modules-only initramfs.
  let ramdisk = b.ramdisk;
  if (!ramdisk && b.board.rootfs) {
    const built = rootfsPaths(b.outDir, "none").ramdisk;
    if (existsSync(built) && existsSync(stampPath(b.outDir, "rootfs"))) ramdisk = built;
  }
  const result = await runImageStage({ ...b, ramdisk }, new StageLog(join(b.outDir, "logs", "image.log")));
  reportImage([result.outcome], result, opts.json);
}
