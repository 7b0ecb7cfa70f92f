/**
 * Every command that builds (config, kernel, rootfs, image, build) is the one
 * pipeline with a different `until`; this module turns their options into a
 * build context and prints what the pipeline did.
 */
import { planFlash } from "../board/flash-layout.js";
import { loadBoard, suggest } from "../board/load.js";
import { readFile } from "node:fs/promises";
import { AuditFailedError, InputError, KilnError } from "../errors.js";
import type { AuditReport } from "../kconfig/audit.js";
import { formatAudit } from "../kconfig/report.js";
import { defaultOutDir } from "../paths.js";
import { build, type BuildResult } from "../pipeline.js";
import { findUnitProfile } from "../remote/profile.js";
import { type BuildContext, STAGES, type StageName, type StageOutcome } from "../stage/contract.js";
import { describeOutcome, displayFor } from "../stage/display.js";

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
  rootPasswordFile?: string;
  sshPasswordLogin?: boolean;
  baseRamdisk?: string;
  /** A probed unit whose real flash layout the image is built for. */
  unit?: string;
  flashLayout?: string;
  /** --no-cache: do not take stage results from ~/.cache/kiln/stages */
  cache?: boolean;
  /** --no-deps: only this command's own stage */
  deps?: boolean;
}

/** Ctrl-C stops the running make and says what was left behind. */
function interruptible(): AbortController {
  const ac = new AbortController();
  process.once("SIGINT", () => ac.abort());
  process.once("SIGTERM", () => ac.abort());
  return ac;
}

export async function buildContext(opts: BuildCommandOptions): Promise<BuildContext> {
  const board = await loadBoard(opts.board);
  const force = opts.force.map((s) => {
    if (!(STAGES as readonly string[]).includes(s)) {
      const near = suggest(s, STAGES);
      throw new KilnError(`--force ${s}: no such stage${near ? ` (did you mean ${near}?)` : ""}`, { hint: `stages: ${STAGES.join(", ")}` });
    }
    return s as StageName;
  });
  if (opts.sshPasswordLogin && opts.rootPasswordFile === undefined) {
    throw new InputError("--ssh-password-login needs a password, and root has none", "add --root-password-file FILE (or -), or leave --ssh-password-login out: SSH by key");
  }
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
    useCache: opts.cache !== false,
    rootfs: {
      profile: opts.profile,
      mirrors: opts.mirror,
      strictSuites: opts.strictSuites,
      net: opts.net,
      address: opts.address,
      gateway: opts.gateway,
      dns: opts.dns,
      authorizedKeys: opts.authorizedKey,
      rootPassword: opts.rootPasswordFile !== undefined ? await readRootPassword(opts.rootPasswordFile) : undefined,
      sshPasswordLogin: opts.sshPasswordLogin,
      baseRamdisk: opts.baseRamdisk,
    },
  };
}

/**
 * Root's password from a file or standard input ("-"): its first line. Read at
 * the CLI boundary, so it is never on a command line (ps), in a log, or in the
 * stamp (which keeps only the crypt(3) line).
 */
async function readRootPassword(file: string): Promise<string> {
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (err) {
    throw new InputError(`--root-password-file ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`, "give a file whose first line is the password, or - to read it from standard input");
  }
  const password = text.split("\n")[0]?.replace(/\r$/, "") ?? "";
  if (password === "") throw new InputError(`--root-password-file ${file}: the first line is empty`, "leave the option out: root then has no password (console shell, SSH by key only)");
  return password;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return promptHidden("root password (not shown): ");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** One line from the terminal, not echoed: a password typed for --root-password-file -. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  let line = "";
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(`${line}\n`);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new InputError("no root password given (Ctrl-C)", "run again and type it, or give --root-password-file FILE"));
        if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
        else line += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** The pipeline up to `until`, with the progress display this terminal wants. */
export async function runBuild(ctx: BuildContext, until: StageName, noDeps = false): Promise<BuildResult> {
  const display = displayFor(ctx.quiet);
  try {
    return await build(ctx, until, display, noDeps);
  } finally {
    await display.settle();
  }
}

function stageLines(stages: readonly StageOutcome[]): string {
  return stages.map((o) => `${o.stage.padEnd(7)} ${describeOutcome(o)}\n`).join("");
}

/** What the pipeline made, for people and (with --json) for machines. */
export function printBuild(r: BuildResult, json: boolean): void {
  const out = {
    stages: r.stages,
    notes: [...r.notes, ...(r.image?.notes ?? [])],
    ...(r.image ? { image: r.image.file, manifest: r.image.manifest } : {}),
    ...(r.rootfs && !r.image ? { ramdisk: r.rootfs.ramdisk, compressed: r.rootfs.compressed, sbom: r.rootfs.sbom, report: r.rootfs.report, manifest: r.rootfs.manifest, warnings: r.rootfs.warnings } : {}),
    ...(r.kernel && !r.image && !r.rootfs ? { zImage: r.kernel.zImage, release: r.kernel.release } : {}),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  process.stdout.write(stageLines(r.stages));
  for (const w of r.rootfs?.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (r.image) process.stdout.write(`image:    ${r.image.file}\nmanifest: ${r.image.manifest}\n`);
  else if (r.rootfs) process.stdout.write(`ramdisk:     ${r.rootfs.compressed}\nsize report: ${r.rootfs.report}\nsbom:        ${r.rootfs.sbom}\n`);
  else if (r.kernel) process.stdout.write(`zImage:   ${r.kernel.zImage}\nrelease:  ${r.kernel.release}\n`);
  for (const n of out.notes) process.stdout.write(`note:     ${n}\n`);
}

export async function buildCommand(opts: BuildCommandOptions, until: StageName = "image"): Promise<void> {
  const ctx = await buildContext(opts);
  printBuild(await runBuild(ctx, until, opts.deps === false), opts.json);
}

/** `kiln config`: the pipeline up to the config stage, and the audit printed whether it passed or not. */
export async function configCommand(opts: BuildCommandOptions): Promise<void> {
  const ctx = await buildContext({ ...opts, force: opts.force ?? [] });
  let r: BuildResult;
  try {
    r = await runBuild(ctx, "config");
  } catch (err) {
    if (err instanceof AuditFailedError) process.stdout.write(opts.json ? `${JSON.stringify(err.report, null, 2)}\n` : `${err.formatted}\n`);
    throw err;
  }
  const c = r.config;
  if (!c?.report) return;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(c.report, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${stageLines(r.stages)}`);
  const audit = { ...c.report, entries: c.report.options } as unknown as AuditReport;
  process.stdout.write(`${formatAudit(audit)}\n\nconfig: ${c.configPath}\nreport: ${c.reportPath}\n`);
}
