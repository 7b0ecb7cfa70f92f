/**
 * The whole build on one screen: config -> kernel -> (rootfs) -> image. Each
 * stage declares its inputs; a stage whose inputs match its stamp is skipped,
 * and the log says which input made a stage run.
 */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Board } from "./board/schema.js";
import { checkStamp, type Inputs, sha256File, sha256Text, writeStamp } from "./cache.js";
import { InputError } from "./errors.js";
import { writeFileAtomic } from "./fsutil.js";
import { StageLog } from "./exec.js";
import { buildKernel, compilerArgs, makeTargets, toolVersion } from "./kernel/build.js";
import { prepareKernelSource } from "./kernel/source.js";
import { assertAudit, configContext, configSteps } from "./kconfig/stage.js";
import { findFragment } from "./kconfig/fragments.js";
import { dataDir } from "./paths.js";
import { runSteps } from "./steps.js";

export const STAGES = ["config", "kernel", "rootfs", "image"] as const;
export type StageName = (typeof STAGES)[number];

export interface BuildOptions {
  board: Board;
  outDir: string;
  kernelSrc?: string;
  extraFragments: string[];
  allowMissing: boolean;
  force: StageName[];
  quiet: boolean;
  ramdisk?: string;
  signal?: AbortSignal;
  /** Options of the rootfs stage (profile, network, keys, mirrors). */
  rootfs?: import("./rootfs/stage.js").RootfsOptions;
  /** The flash layout the image is for (--flash-layout, --unit); default: the board data's. */
  flash?: import("./board/flash-layout.js").FlashPlan;
}

export interface StageOutcome {
  stage: StageName;
  ran: boolean;
  why: string[];
}

/** The engine's own code is an input too: a changed stage re-runs even on unchanged data. */
export async function engineHash(...modules: string[]): Promise<string> {
  const hashes = await Promise.all(modules.map((m) => sha256File(fileURLToPath(new URL(m, import.meta.url)))));
  return sha256Text(hashes.join(""));
}

async function fileHash(path: string | undefined): Promise<string> {
  return path && existsSync(path) ? sha256File(path) : "none";
}

/** What the config stage reads: board data, fragments, the rename table, the kernel tree's identity. */
export async function configInputs(opts: BuildOptions): Promise<Inputs> {
  const spec = opts.kernelSrc ?? opts.board.kernel.source.tarball;
  const st = await stat(spec).catch(() => undefined);
  const inputs: Inputs = {
    "kernel source": `${spec} ${st?.size ?? "?"} ${st ? Math.floor(st.mtimeMs) : "?"}`,
    "board.yaml": await fileHash(join(opts.board.dir, "board.yaml")),
    "board kernel.config": await fileHash(opts.board.fragmentFile),
    "kconfig/renames.yaml": await fileHash(join(dataDir("kconfig"), "renames.yaml")),
    engine: await engineHash("./kconfig/stage.js", "./kconfig/audit.js", "./kconfig/tree.js", "./kconfig/fragments.js"),
  };
  for (const name of [...opts.board.kernel.fragments, ...opts.extraFragments]) {
    const ref = await findFragment(name);
    inputs[`fragment ${name}`] = await fileHash(ref.file);
  }
  return inputs;
}

export async function runConfigStage(opts: BuildOptions, log: StageLog): Promise<StageOutcome> {
  const inputs = await configInputs(opts);
  const fresh = await checkStamp(opts.outDir, "config", inputs);
  if (fresh.fresh && !opts.force.includes("config")) return { stage: "config", ran: false, why: [] };
  log.write(`# config runs: ${fresh.why.join(", ")}`);
  const ctx = configContext({ board: opts.board, outDir: opts.outDir, kernelSrc: opts.kernelSrc, extraFragments: opts.extraFragments, allowMissing: opts.allowMissing });
  await runSteps(configSteps, ctx, { quiet: opts.quiet });
  assertAudit(ctx);
  await writeStamp(opts.outDir, "config", inputs, [ctx.configPath, ctx.reportPath]);
  return { stage: "config", ran: true, why: fresh.why };
}

export interface KernelPaths {
  objDir: string;
  stagingDir: string;
  manifest: string;
}

export function kernelPaths(outDir: string): KernelPaths {
  return { objDir: join(outDir, "kernel"), stagingDir: join(outDir, "modules"), manifest: join(outDir, "kernel-artifacts.json") };
}

export async function runKernelStage(opts: BuildOptions, log: StageLog): Promise<StageOutcome> {
  const paths = kernelPaths(opts.outDir);
  const configPath = join(paths.objDir, ".config");
  if (!existsSync(configPath)) throw new InputError(`${configPath} does not exist`, `run \`kiln config --board ${opts.board.name}\` first (or \`kiln build\`)`);
  const source = await prepareKernelSource(opts.kernelSrc ?? opts.board.kernel.source.tarball, { arch: opts.board.arch, log, debianPackage: opts.board.kernel.source.package });
  const inputs: Inputs = {
    ".config": await sha256File(configPath),
    "kernel source": `${source.origin} ${source.version}`,
    targets: makeTargets(opts.board).join(" "),
    engine: await engineHash("./kernel/build.js"),
    compiler: `${await toolVersion(`${opts.board.crossCompile}gcc`)} ${(await compilerArgs(opts.board)).join(" ")}`,
  };
  const fresh = await checkStamp(opts.outDir, "kernel", inputs);
  if (fresh.fresh && !opts.force.includes("kernel")) return { stage: "kernel", ran: false, why: [] };
  log.write(`# kernel runs: ${fresh.why.join(", ")}`);
  const epoch = await sourceEpoch(source.dir);
  await runSteps(
    [
      {
        title: `Build ${makeTargets(opts.board).join(", ")} (Linux ${source.version})`,
        run: async () => {
          const art = await buildKernel({ board: opts.board, sourceDir: source.dir, objDir: paths.objDir, stagingDir: paths.stagingDir, log, epoch, signal: opts.signal });
          await writeFileAtomic(paths.manifest, `${JSON.stringify({ ...art, version: source.version, epoch }, null, 2)}\n`);
        },
      },
    ],
    {},
    { quiet: opts.quiet },
  );
  const art = JSON.parse(await readFile(paths.manifest, "utf8")) as { zImage: string; dtb?: string };
  await writeStamp(opts.outDir, "kernel", inputs, [art.zImage, ...(art.dtb ? [art.dtb] : []), paths.manifest]);
  return { stage: "kernel", ran: true, why: fresh.why };
}

/**
 * SOURCE_DATE_EPOCH when set, else the kernel tree's own Makefile mtime (kept
 * from the tarball): the same for every build of the same source.
 */
export async function sourceEpoch(sourceDir: string): Promise<number> {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^\d+$/.test(env)) return Number(env);
  return Math.floor((await stat(join(sourceDir, "Makefile"))).mtimeMs / 1000);
}

