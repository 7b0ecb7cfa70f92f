import { join } from "node:path";
import { StageLog } from "../exec.js";
import { runImageStage } from "../image/stage.js";
import { buildOptions, type BuildCommandOptions, reportImage } from "./build.js";

export async function imageCommand(opts: BuildCommandOptions): Promise<void> {
  const b = await buildOptions(opts);
  const result = await runImageStage(b, new StageLog(join(b.outDir, "logs", "image.log")));
  reportImage([result.outcome], result, opts.json);
}
