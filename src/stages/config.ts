/** The config stage: board defconfig + fragments -> an audited .config (see kconfig/stage.ts for the steps). */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Inputs, sha256File } from "../cache.js";
import { requireTool } from "../exec.js";
import { findFragment } from "../kconfig/fragments.js";
import { formatAudit } from "../kconfig/report.js";
import { dataDir } from "../paths.js";
import type { Stage } from "../stage/contract.js";
import { stageEngineHash } from "../stage/engine.js";

export interface ConfigResult {
  configPath: string;
  reportPath: string;
  /** the audit as written to kconfig/audit.json (none for a .config kiln did not make) */
  report?: { ok: boolean; counts: Record<string, number>; fragments: unknown; kernelVersion: string; options: unknown[] } & Record<string, unknown>;
}

export function configPaths(outDir: string): { configPath: string; reportPath: string } {
  return { configPath: join(outDir, "kernel", ".config"), reportPath: join(outDir, "kconfig", "audit.json") };
}

async function fileHash(path: string | undefined): Promise<string> {
  return path && existsSync(path) ? sha256File(path) : "none";
}

export const configStage: Stage<object, ConfigResult> = {
  name: "config",
  logName: "kconfig.log",
  cacheable: true,
  diskMiB: 50,
  title: (ctx) => `defconfig + fragments (${[...ctx.board.kernel.fragments, ...ctx.extraFragments].join(", ")}), olddefconfig, audit`,
  async preflight(ctx) {
    await requireTool("make", "make", "the kernel's config targets are make rules");
    await requireTool(`${ctx.board.crossCompile}gcc`, ctx.board.toolchainPackage, `Kconfig asks the ${ctx.board.arch} compiler what it supports`);
  },
  async inputs(ctx): Promise<Inputs> {
    const spec = ctx.kernelSrc ?? ctx.board.kernel.source.tarball;
    const st = await stat(spec).catch(() => undefined);
    const inputs: Inputs = {
      "kernel source": `${spec} ${st?.size ?? "?"} ${st ? Math.floor(st.mtimeMs) : "?"}`,
      "board.yaml": await fileHash(join(ctx.board.dir, "board.yaml")),
      "board kernel.config": await fileHash(ctx.board.fragmentFile),
      "kconfig/renames.yaml": await fileHash(join(dataDir("kconfig"), "renames.yaml")),
      allowMissing: String(ctx.allowMissing),
      engine: await stageEngineHash("config"),
    };
    for (const name of [...ctx.board.kernel.fragments, ...ctx.extraFragments]) {
      const ref = await findFragment(name);
      inputs[`fragment ${name}`] = await fileHash(ref.file);
    }
    return inputs;
  },
  outputs: (ctx) => Object.values(configPaths(ctx.outDir)),
  async run(ctx, _up, io) {
    // The Kconfig reader and the audit are loaded only when a config is actually made.
    const { assertAuditOrThrow, configContext, configSteps } = await import("../kconfig/stage.js");
    const c = configContext({ board: ctx.board, outDir: ctx.outDir, kernelSrc: ctx.kernelSrc, extraFragments: ctx.extraFragments, allowMissing: ctx.allowMissing }, io.log);
    for (const step of configSteps) {
      io.status(step.title);
      await step.run(c, (detail) => io.status(`${step.title}: ${detail}`));
    }
    assertAuditOrThrow(c, formatAudit);
  },
  async result(ctx) {
    const paths = configPaths(ctx.outDir);
    // A .config made elsewhere (kiln image --no-deps) has no audit.
    const report = existsSync(paths.reportPath) ? (JSON.parse(await readFile(paths.reportPath, "utf8")) as ConfigResult["report"]) : undefined;
    return { ...paths, report };
  },
};
