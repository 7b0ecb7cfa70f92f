/** The kernel stage: cross-build zImage, DTB and modules out of tree (see kernel/build.ts). */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { sha256File } from "../cache.js";
import { InputError } from "../errors.js";
import { requireTool, StageLog, toolVersion } from "../exec.js";
import { writeFileAtomic } from "../fsutil.js";
import { buildKernel, compilerArgs, makeTargets } from "../kernel/build.js";
import { MakeProgress } from "../kernel/progress.js";
import { prepareKernelSource } from "../kernel/source.js";
import type { BuildContext, Stage } from "../stage/contract.js";
import { stageEngineHash } from "../stage/engine.js";
import type { ConfigResult } from "./config.js";

export interface KernelResult {
  release: string;
  version: string;
  epoch: number;
  objDir: string;
  configPath: string;
  zImage: string;
  dtb: string | undefined;
  modulesDir: string | undefined;
  manifest: string;
}

export interface KernelPaths {
  objDir: string;
  stagingDir: string;
  manifest: string;
  zImage: string;
  dtb: string | undefined;
}

export function kernelPaths(ctx: Pick<BuildContext, "outDir" | "board">): KernelPaths {
  const objDir = join(ctx.outDir, "kernel");
  const { arch, kernel } = ctx.board;
  return {
    objDir,
    stagingDir: join(ctx.outDir, "modules"),
    manifest: join(ctx.outDir, "kernel-artifacts.json"),
    zImage: join(objDir, "arch", arch, "boot", "zImage"),
    dtb: kernel.dtb ? join(objDir, "arch", arch, "boot", "dts", kernel.dtb) : undefined,
  };
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

/** The kernel tree (unpacked once into the cache); what that did goes to its own log. */
const source = (ctx: BuildContext) =>
  prepareKernelSource(ctx.kernelSrc ?? ctx.board.kernel.source.tarball, {
    arch: ctx.board.arch,
    log: new StageLog(join(ctx.outDir, "logs", "kernel-source.log")),
    debianPackage: ctx.board.kernel.source.package,
  });

export const kernelStage: Stage<{ config: ConfigResult }, KernelResult> = {
  name: "kernel",
  logName: "kernel.log",
  cacheable: true,
  // Measured: the AX3's out-of-tree build (mvebu_v7_defconfig) is 1.2 GB.
  diskMiB: 2000,
  title: (ctx) => `make ${makeTargets(ctx.board).join(" ")} (${ctx.board.crossCompile}gcc, O=${join(ctx.outDir, "kernel")})`,
  async preflight(ctx) {
    await requireTool("make", "make", "it builds the kernel");
    await compilerArgs(ctx.board);
  },
  async inputs(ctx, { config }) {
    if (!existsSync(config.configPath)) throw new InputError(`${config.configPath} does not exist`, `run \`kiln config --board ${ctx.board.name}\` first (or \`kiln build\`)`);
    const src = await source(ctx);
    return {
      ".config": await sha256File(config.configPath),
      "kernel source": `${src.origin} ${src.version}`,
      targets: makeTargets(ctx.board).join(" "),
      engine: await stageEngineHash("kernel"),
      compiler: `${await toolVersion(`${ctx.board.crossCompile}gcc`)} ${(await compilerArgs(ctx.board)).join(" ")}`,
    };
  },
  outputs(ctx) {
    const p = kernelPaths(ctx);
    return [p.zImage, ...(p.dtb ? [p.dtb] : []), p.manifest, ...(ctx.board.kernel.targets.includes("modules") ? [p.stagingDir] : [])];
  },
  async run(ctx, { config }, io) {
    const paths = kernelPaths(ctx);
    const src = await source(ctx);
    const epoch = await sourceEpoch(src.dir);
    const progress = await MakeProgress.load(await sha256File(config.configPath));
    const art = await buildKernel({
      board: ctx.board,
      sourceDir: src.dir,
      objDir: paths.objDir,
      stagingDir: paths.stagingDir,
      log: io.log,
      epoch,
      signal: io.signal,
      onLine: (line) => {
        const s = progress.line(line);
        if (s) io.status(s);
      },
      status: io.status,
    });
    await progress.save();
    await writeFileAtomic(paths.manifest, `${JSON.stringify({ ...art, version: src.version, epoch }, null, 2)}\n`);
  },
  async result(ctx, { config }) {
    const p = kernelPaths(ctx);
    let m: { release: string; version: string; epoch: number; zImage?: string; dtb?: string | null; modulesDir?: string | null };
    try {
      m = JSON.parse(await readFile(p.manifest, "utf8")) as typeof m;
    } catch {
      throw new InputError(`no kernel build in ${ctx.outDir} (${p.manifest} cannot be read)`, `run \`kiln kernel --board ${ctx.board.name}\` or \`kiln build\` first`);
    }
    return {
      release: m.release,
      version: m.version,
      epoch: m.epoch,
      objDir: p.objDir,
      configPath: config.configPath,
      // The manifest's own paths: kiln's (moved with the directory by the stage cache) or a kernel built elsewhere.
      zImage: m.zImage ?? p.zImage,
      dtb: m.dtb ?? p.dtb,
      modulesDir: m.modulesDir ?? undefined,
      manifest: p.manifest,
    };
  },
};
