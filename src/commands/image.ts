import { join } from "node:path";
import { StageLog } from "../exec.js";
import { runImageStage } from "../image/stage.js";
import { buildOptions, type BuildCommandOptions, report } from "./build.js";

export async function imageCommand(opts: BuildCommandOptions): Promise<void> {
  const b = await buildOptions(opts);
  const result = await runImageStage(b, new StageLog(join(b.outDir, "logs", "image.log")));
  report([result.outcome], opts.json, { image: result.file, manifest: result.manifest });
  if (!opts.json) process.stdout.write(`image:    ${result.file}\nmanifest: ${result.manifest}\n`);
}
