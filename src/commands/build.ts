import { loadBoard } from "../board/load.js";
import { KilnError } from "../errors.js";
import { StageLog } from "../exec.js";
import { defaultOutDir } from "../paths.js";
import { type BuildOptions, runConfigStage, runKernelStage, STAGES, type StageName, type StageOutcome } from "../pipeline.js";
import { join } from "node:path";

export interface BuildCommandOptions {
  board: string;
  fragment: string[];
  kernelSrc?: string;
  out?: string;
  allowMissing: boolean;
  force: string[];
  ramdisk?: string;
  json: boolean;
}

/** Ctrl-C stops the running make and says what was left behind. */
function interruptible(): AbortController {
  const ac = new AbortController();
  process.once("SIGINT", () => ac.abort());
  process.once("SIGTERM", () => ac.abort());
  return ac;
}

export async function buildOptions(opts: BuildCommandOptions): Promise<BuildOptions> {
  const board = await loadBoard(opts.board);
  const force = opts.force.map((s) => {
    if (!(STAGES as readonly string[]).includes(s)) throw new KilnError(`--force ${s}: no such stage`, { hint: `stages: ${STAGES.join(", ")}` });
    return s as StageName;
  });
  return {
    board,
    outDir: opts.out ?? defaultOutDir(board.name),
    kernelSrc: opts.kernelSrc,
    extraFragments: opts.fragment,
    allowMissing: opts.allowMissing,
    force,
    quiet: opts.json,
    ramdisk: opts.ramdisk,
    signal: interruptible().signal,
  };
}

export function report(outcomes: StageOutcome[], json: boolean, extra: object = {}): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ stages: outcomes, ...extra }, null, 2)}\n`);
    return;
  }
  for (const o of outcomes) {
    process.stdout.write(`${o.stage.padEnd(7)} ${o.ran ? `ran (${o.why.join(", ")})` : "up to date, skipped"}\n`);
  }
}

export async function kernelCommand(opts: BuildCommandOptions): Promise<void> {
  const b = await buildOptions(opts);
  const log = new StageLog(join(b.outDir, "logs", "kernel.log"));
  const outcome = await guard(b, log, () => runKernelStage(b, log));
  report([outcome], opts.json);
}

export async function buildCommand(opts: BuildCommandOptions): Promise<void> {
  const b = await buildOptions(opts);
  const outcomes: StageOutcome[] = [];
  outcomes.push(await runConfigStage(b, new StageLog(join(b.outDir, "logs", "kconfig.log"))));
  const klog = new StageLog(join(b.outDir, "logs", "kernel.log"));
  outcomes.push(await guard(b, klog, () => runKernelStage(b, klog)));
  const { runImageStage } = await import("../image/stage.js");
  const ilog = new StageLog(join(b.outDir, "logs", "image.log"));
  const image = await runImageStage(b, ilog);
  outcomes.push(image.outcome);
  report(outcomes, opts.json, { image: image.file, manifest: image.manifest });
  if (!opts.json) process.stdout.write(`image:    ${image.file}\nmanifest: ${image.manifest}\n`);
}

async function guard<T>(b: BuildOptions, log: StageLog, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (b.signal?.aborted) {
      throw new KilnError("interrupted: the kernel build was stopped", {
        exitCode: 130,
        hint: `objects built so far stay in ${join(b.outDir, "kernel")} and make resumes from them; no artefact was written. Log: ${log.file}`,
      });
    }
    throw err;
  }
}
