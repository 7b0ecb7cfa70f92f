import { planFlash } from "../board/flash-layout.js";
import { loadBoard } from "../board/load.js";
import { KilnError } from "../errors.js";
import { StageLog } from "../exec.js";
import { defaultOutDir } from "../paths.js";
import { findUnitProfile } from "../remote/profile.js";
import type { ImageResult } from "../image/stage.js";
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
  profile?: string;
  mirror?: string[];
  strictSuites?: boolean;
  net?: "veth" | "macvlan";
  address?: string;
  gateway?: string;
  dns?: string[];
  authorizedKey?: string[];
  rootPassword?: string;
  baseRamdisk?: string;
  /** A probed unit whose real flash layout the image is built for. */
  unit?: string;
  flashLayout?: string;
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
  // Before any stage runs: a unit whose layout does not match the board data stops the build here, not after the kernel.
  const unit = opts.unit !== undefined ? await findUnitProfile(opts.unit) : undefined;
  const flash = planFlash(board, { layout: opts.flashLayout, unit });
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
    flash,
    rootfs: {
      profile: opts.profile,
      mirrors: opts.mirror,
      strictSuites: opts.strictSuites,
      net: opts.net,
      address: opts.address,
      gateway: opts.gateway,
      dns: opts.dns,
      authorizedKeys: opts.authorizedKey,
      rootPassword: opts.rootPassword,
      baseRamdisk: opts.baseRamdisk,
    },
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
  let ramdisk = b.ramdisk;
  if (!ramdisk && b.board.rootfs) {
    const { runRootfsStage } = await import("../rootfs/stage.js");
    const rootfs = await runRootfsStage({ ...b, ...b.rootfs }, new StageLog(join(b.outDir, "logs", "rootfs.log")));
    outcomes.push(rootfs.outcome);
    ramdisk = rootfs.ramdisk;
  }
  const { runImageStage } = await import("../image/stage.js");
  const ilog = new StageLog(join(b.outDir, "logs", "image.log"));
  const image = await runImageStage({ ...b, ramdisk }, ilog);
  outcomes.push(image.outcome);
  reportImage(outcomes, image, opts.json);
}

/** The stages, the image and what the image stage could not know (an unprobed flash limit). */
export function reportImage(outcomes: StageOutcome[], image: ImageResult, json: boolean): void {
  report(outcomes, json, { image: image.file, manifest: image.manifest, notes: image.notes });
  if (json) return;
  process.stdout.write(`image:    ${image.file}\nmanifest: ${image.manifest}\n`);
  for (const n of image.notes) process.stdout.write(`note:     ${n}\n`);
}

async function guard<T>(b: BuildOptions, log: StageLog, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (b.signal?.aborted) {
      throw new KilnError("interrupted: the build was stopped", {
        exitCode: 130,
        hint: `work done so far stays in ${b.outDir} and is resumed from; no artefact was written. Log: ${log.file}`,
      });
    }
    throw err;
  }
}

export async function rootfsCommand(opts: BuildCommandOptions): Promise<void> {
  const b = await buildOptions(opts);
  const { runRootfsStage } = await import("../rootfs/stage.js");
  const r = await runRootfsStage({ ...b, ...b.rootfs }, new StageLog(join(b.outDir, "logs", "rootfs.log")));
  report([r.outcome], opts.json, { ramdisk: r.ramdisk, compressed: r.compressed, sbom: r.sbom, report: r.report, warnings: r.warnings });
  if (!opts.json) {
    for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(`ramdisk:     ${r.compressed}\nsize report: ${r.report}\nsbom:        ${r.sbom}\n`);
  }
}
