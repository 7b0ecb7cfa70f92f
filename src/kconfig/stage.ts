/**
 * The kconfig stage: board defconfig + container fragments -> a kernel .config
 * proven to carry what was asked for. The kernel's own tools make the config
 * (make <defconfig>, merge_config.sh, olddefconfig); kiln only reads and explains.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Board } from "../board/schema.js";
import { AuditFailedError, CheckFailedError, InputError } from "../errors.js";
import { requireTool, run, type StageLog } from "../exec.js";
import { writeFileAtomic } from "../fsutil.js";
import { type KernelSource, prepareKernelSource } from "../kernel/source.js";
import type { Step } from "../steps.js";
import { audit, type AuditReport, planRequests, type PlannedRequest, resolvedFragmentText } from "./audit.js";
import { formatAssignment, parseConfig } from "./dotconfig.js";
import { findFragment, type FragmentRef, loadFragment, type Request } from "./fragments.js";
import { loadRenames } from "./renames.js";
import { type KconfigTree, readKconfigTree } from "./tree.js";

/** Config targets that are make rules rather than files in arch/<arch>/configs. */
const MAKE_CONFIG_TARGETS = ["tinyconfig", "allnoconfig", "defconfig", "alldefconfig", "allmodconfig", "allyesconfig"];

export interface ConfigInput {
  board: Board;
  outDir: string;
  /** --kernel-src: a tree or tarball; default is the board's Debian tarball. */
  kernelSrc?: string;
  /** --fragment, added after the board's own list. */
  extraFragments: string[];
  allowMissing: boolean;
}

export interface ConfigContext extends ConfigInput {
  log: StageLog;
  objDir: string;
  source?: KernelSource;
  defconfig?: string;
  tree?: KconfigTree;
  fragments?: FragmentRef[];
  planned?: PlannedRequest[];
  report?: AuditReport;
  configPath: string;
  reportPath: string;
}

export function configContext(input: ConfigInput, log: StageLog): ConfigContext {
  return {
    ...input,
    log,
    objDir: join(input.outDir, "kernel"),
    configPath: join(input.outDir, "kernel", ".config"),
    reportPath: join(input.outDir, "kconfig", "audit.json"),
  };
}

function makeArgs(ctx: ConfigContext, ...targets: string[]): string[] {
  const src = ctx.source as KernelSource;
  return ["-C", src.dir, `O=${ctx.objDir}`, `ARCH=${ctx.board.arch}`, `CROSS_COMPILE=${ctx.board.crossCompile}`, ...targets];
}

export const configSteps: Step<ConfigContext>[] = [
  {
    title: "Check host tools",
    run: async (ctx) => {
      await requireTool("make", "make", "the kernel's config targets are make rules");
      await requireTool(`${ctx.board.crossCompile}gcc`, ctx.board.toolchainPackage, `Kconfig asks the ${ctx.board.arch} compiler what it supports`);
    },
  },
  {
    title: "Prepare kernel source",
    run: async (ctx, update) => {
      const spec = ctx.kernelSrc ?? ctx.board.kernel.source.tarball;
      update(spec);
      ctx.source = await prepareKernelSource(spec, { arch: ctx.board.arch, log: ctx.log, debianPackage: ctx.board.kernel.source.package });
      if (existsSync(join(ctx.source.dir, "scripts", "kconfig", "lexer.l"))) {
        await requireTool("flex", "flex", "the kernel's kconfig tools are built from flex sources");
        await requireTool("bison", "bison", "the kernel's kconfig tools are built from bison sources");
      }
      update(`Linux ${ctx.source.version} in ${ctx.source.dir}`);
    },
  },
  {
    title: "Read the tree's Kconfig files",
    run: async (ctx, update) => {
      const arch = ctx.board.arch;
      ctx.tree = await readKconfigTree((ctx.source as KernelSource).dir, { ARCH: arch, SRCARCH: arch });
      update(`${ctx.tree.symbols.size} symbols`);
    },
  },
  {
    title: "Resolve fragments against this kernel",
    run: async (ctx, update) => {
      const names = [...ctx.board.kernel.fragments, ...ctx.extraFragments];
      const refs = await Promise.all(names.map((n) => findFragment(n)));
      if (ctx.board.fragmentFile) refs.push({ name: `board/${ctx.board.name}`, file: ctx.board.fragmentFile });
      const tree = ctx.tree as KconfigTree;
      const renderCtx = {
        kernelVersion: (ctx.source as KernelSource).version,
        arch: ctx.board.arch,
        board: ctx.board.name,
        defined: (s: string) => tree.symbols.has(s),
      };
      const requests: Request[] = [];
      for (const ref of refs) requests.push(...(await loadFragment(ref, renderCtx)));
      ctx.fragments = refs;
      ctx.planned = planRequests(requests, await loadRenames(), tree);
      update(`${requests.length} options from ${refs.map((r) => r.name).join(", ")}`);
    },
  },
  {
    title: "Apply the board's defconfig",
    run: async (ctx, update) => {
      ctx.defconfig = await pickDefconfig(ctx.source as KernelSource, ctx.board);
      update(ctx.defconfig);
      await mkdir(ctx.objDir, { recursive: true });
      await run("make", makeArgs(ctx, ctx.defconfig), { log: ctx.log, what: `make ${ctx.defconfig}` });
    },
  },
  {
    title: "Merge fragments (merge_config.sh)",
    run: async (ctx) => {
      const files: string[] = [];
      for (const [i, ref] of (ctx.fragments ?? []).entries()) {
        const file = join(ctx.outDir, "kconfig", `${String(i).padStart(2, "0")}-${ref.name.replace(/[^\w.-]+/g, "_")}.config`);
        await writeFileAtomic(file, resolvedFragmentText(ctx.planned ?? [], ref.name, (ctx.source as KernelSource).version));
        files.push(file);
      }
      const merge = join((ctx.source as KernelSource).dir, "scripts", "kconfig", "merge_config.sh");
      if (existsSync(merge)) {
        await run("sh", [merge, "-m", "-O", ctx.objDir, ctx.configPath, ...files], { log: ctx.log, cwd: ctx.objDir, what: "merge_config.sh" });
      } else {
        // Trees before 3.2 have no merge_config.sh: the same merge, later lines win.
        ctx.log.write("# no scripts/kconfig/merge_config.sh in this tree: kiln merges the fragments itself");
        await writeFileAtomic(ctx.configPath, mergeConfigs([await readFile(ctx.configPath, "utf8"), ...(await Promise.all(files.map((f) => readFile(f, "utf8"))))]));
      }
    },
  },
  {
    title: "Resolve the final config (olddefconfig)",
    run: async (ctx) => {
      const src = ctx.source as KernelSource;
      const kconfigMake = join(src.dir, "scripts", "kconfig", "Makefile");
      const hasOlddefconfig = existsSync(kconfigMake) && (await readFile(kconfigMake, "utf8")).includes("olddefconfig");
      if (hasOlddefconfig) {
        await run("make", makeArgs(ctx, "olddefconfig"), { log: ctx.log, what: "make olddefconfig" });
      } else {
        // Before 3.7 the same result came from answering every new question with its default.
        await run("make", makeArgs(ctx, "oldconfig"), { log: ctx.log, what: "make oldconfig", input: "\n".repeat(20000) });
      }
    },
  },
  {
    title: "Audit every requested option",
    run: async (ctx, update) => {
      const final = parseConfig(await readFile(ctx.configPath, "utf8"), ctx.configPath);
      ctx.report = audit(ctx.planned ?? [], ctx.tree as KconfigTree, final, (ctx.source as KernelSource).version);
      await writeFileAtomic(ctx.reportPath, `${JSON.stringify(reportJson(ctx), null, 2)}\n`);
      const c = ctx.report.counts;
      update(`${ctx.report.entries.length} options: ${c.failed} failed, ${c.warnings} warnings`);
    },
  },
];

/** Text-level merge with the semantics of merge_config.sh: a later assignment replaces an earlier one. */
export function mergeConfigs(texts: readonly string[]): string {
  const order: string[] = [];
  const lines = new Map<string, string>();
  for (const text of texts) {
    const parsed = parseConfig(text);
    for (const a of parsed.assignments) {
      if (!lines.has(a.name)) order.push(a.name);
      lines.set(a.name, formatAssignment(a.name, a.value, a.quoted));
    }
  }
  return `${order.map((n) => lines.get(n)).join("\n")}\n`;
}

export async function pickDefconfig(source: KernelSource, board: Board): Promise<string> {
  const configsDir = join(source.dir, "arch", board.arch, "configs");
  for (const name of board.kernel.defconfig) {
    if (MAKE_CONFIG_TARGETS.includes(name) || existsSync(join(configsDir, name))) return name;
  }
  const available = (await readdir(configsDir).catch(() => [] as string[])).filter((f) => f.endsWith("defconfig")).sort();
  throw new InputError(
    `none of the board's defconfigs (${board.kernel.defconfig.join(", ")}) exists in ${configsDir} (Linux ${source.version})`,
    `this tree has: ${available.join(", ") || "(none)"}; set kernel.defconfig in board/${board.name}/board.yaml`,
  );
}

export function reportJson(ctx: ConfigContext): object {
  const report = ctx.report as AuditReport;
  return {
    board: ctx.board.name,
    kernelVersion: report.kernelVersion,
    kernelSource: ctx.source?.origin,
    defconfig: ctx.defconfig,
    fragments: (ctx.fragments ?? []).map((f) => ({ name: f.name, file: f.file })),
    config: ctx.configPath,
    ok: report.ok,
    counts: report.counts,
    options: report.entries,
  };
}

export function assertAudit(ctx: ConfigContext): void {
  const report = ctx.report as AuditReport;
  if (!report.ok && !ctx.allowMissing) {
    throw new CheckFailedError(
      `${report.counts.failed} requested option(s) did not land in ${ctx.configPath}`,
      "fix the fragments (see the reasons above), or pass --allow-missing to accept the config anyway",
    );
  }
}

export { AuditFailedError };

export function assertAuditOrThrow(ctx: ConfigContext, format: (r: AuditReport) => string): void {
  try {
    assertAudit(ctx);
  } catch (err) {
    if (err instanceof CheckFailedError && ctx.report) throw new AuditFailedError(err.message, err.hint ?? "", reportJson(ctx), format(ctx.report));
    throw err;
  }
}
