import { loadBoard } from "../board/load.js";
import { assertAudit, configContext, configSteps, reportJson } from "../kconfig/stage.js";
import { formatAudit } from "../kconfig/report.js";
import { defaultOutDir } from "../paths.js";
import { runSteps } from "../steps.js";

export interface ConfigOptions {
  board: string;
  fragment: string[];
  kernelSrc?: string;
  out?: string;
  json: boolean;
  allowMissing: boolean;
}

export async function configCommand(opts: ConfigOptions): Promise<void> {
  const board = await loadBoard(opts.board);
  const ctx = configContext({
    board,
    outDir: opts.out ?? defaultOutDir(board.name),
    kernelSrc: opts.kernelSrc,
    extraFragments: opts.fragment,
    allowMissing: opts.allowMissing,
  });
  await runSteps(configSteps, ctx, { quiet: opts.json });
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(reportJson(ctx), null, 2)}\n`);
  } else if (ctx.report) {
    process.stdout.write(`${formatAudit(ctx.report)}\n\nconfig: ${ctx.configPath}\nreport: ${ctx.reportPath}\nlog:    ${ctx.log.file}\n`);
  }
  assertAudit(ctx);
}
