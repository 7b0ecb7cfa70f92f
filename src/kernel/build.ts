/**
 * The kernel stage: cross-build what the board needs out of tree (O=), install
 * the modules into a staging directory for the rootfs stage, and record the
 * release string. Builds are reproducible: timestamp, user and host are fixed.
 */
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Board } from "../board/schema.js";
import { findOnPath, requireTool, run, type StageLog } from "../exec.js";
import { cacheDir } from "../paths.js";

/** Fixed build identity, so two builds of the same inputs are byte-identical. */
export function reproducibleEnv(epoch: number): Record<string, string> {
  return {
    KBUILD_BUILD_TIMESTAMP: new Date(epoch * 1000).toUTCString(),
    KBUILD_BUILD_USER: "kiln",
    KBUILD_BUILD_HOST: "kiln",
    KBUILD_BUILD_VERSION: "1",
    SOURCE_DATE_EPOCH: String(epoch),
  };
}

/**
 * ccache shared by every output directory. The kernel names sources by their
 * absolute path in the (cached) tree and objects relative to O=, so leaving
 * base_dir unset keeps every compile line the same whichever O= it runs in; a
 * base_dir would rewrite the source paths relative to O= and make each output
 * directory miss. hash_dir off: the working directory (O=) matters only to -g.
 */
export function ccacheEnv(): Record<string, string> {
  return { CCACHE_DIR: join(cacheDir(), "ccache"), CCACHE_NOHASHDIR: "1", CCACHE_BASEDIR: "", CCACHE_MAXSIZE: "5G" };
}

export interface KernelBuildInput {
  board: Board;
  sourceDir: string;
  objDir: string;
  stagingDir: string;
  log: StageLog;
  epoch: number;
  jobs?: number;
  signal?: AbortSignal;
  /** every line make prints (progress) */
  onLine?: (line: string) => void;
  status?: (text: string) => void;
}

export interface KernelArtifacts {
  release: string;
  zImage: string;
  dtb: string | undefined;
  modulesDir: string | undefined;
}

/** Make targets: the board's list, with `dtbs` narrowed to the one DTB it boots with. */
export function makeTargets(board: Board): string[] {
  return board.kernel.targets.map((t) => (t === "dtbs" && board.kernel.dtb ? board.kernel.dtb : t));
}

export async function compilerArgs(board: Board): Promise<string[]> {
  const gcc = `${board.crossCompile}gcc`;
  await requireTool(gcc, board.toolchainPackage, `it cross-compiles the kernel for ${board.arch}`);
  // ccache makes a rebuild after a fragment change cheap; it is optional.
  if (await findOnPath("ccache")) return [`CC=ccache ${gcc}`];
  return [];
}

export async function buildKernel(input: KernelBuildInput): Promise<KernelArtifacts> {
  const { board, log } = input;
  const common = ["-C", input.sourceDir, `O=${input.objDir}`, `ARCH=${board.arch}`, `CROSS_COMPILE=${board.crossCompile}`, ...(await compilerArgs(board))];
  const env = { ...reproducibleEnv(input.epoch), ...ccacheEnv() };
  const jobs = input.jobs ?? cpus().length;
  await run("make", [...common, `-j${jobs}`, ...makeTargets(board)], { log, env, what: "kernel build", signal: input.signal, onLine: input.onLine });

  const release = (await run("make", ["-s", ...common, "kernelrelease"], { log, env, what: "make kernelrelease" })).stdout.trim();
  let modulesDir: string | undefined;
  if (board.kernel.targets.includes("modules")) {
    input.status?.("make modules_install");
    await rm(input.stagingDir, { recursive: true, force: true });
    await mkdir(input.stagingDir, { recursive: true });
    await run("make", [...common, `INSTALL_MOD_PATH=${input.stagingDir}`, "INSTALL_MOD_STRIP=1", "modules_install"], {
      log,
      env,
      what: "modules_install",
      signal: input.signal,
    });
    modulesDir = join(input.stagingDir, "lib", "modules", release);
  }
  const zImage = join(input.objDir, "arch", board.arch, "boot", "zImage");
  const dtb = board.kernel.dtb ? await findDtb(input.objDir, board.arch, board.kernel.dtb) : undefined;
  return { release, zImage, dtb, modulesDir };
}

async function findDtb(objDir: string, arch: string, name: string): Promise<string> {
  for (const candidate of [join(objDir, "arch", arch, "boot", "dts", name)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`the kernel build finished but ${name} is not in ${join(objDir, "arch", arch, "boot", "dts")}`);
}
