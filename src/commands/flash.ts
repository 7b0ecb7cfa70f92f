/**
 * kiln flash: pre-flight, verified upload, flashcfg, reboot, check. For one
 * board or many (--host repeated, --inventory), with a concurrency limit; one
 * board failing does not stop the others.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { Listr } from "listr2";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { loadBoard } from "../board/load.js";
import type { Board } from "../board/schema.js";
import { checkLive, formatLive, type LiveReport } from "../check/live.js";
import { CheckFailedError, InputError, KilnError } from "../errors.js";
import { StageLog } from "../exec.js";
import { parseUImage, verifyUImage } from "../image/uimage.js";
import { defaultOutDir } from "../paths.js";
import { freeBytes, matchIdentity, readIdentity, readProcMtd, whichFlashcfg } from "../remote/probe.js";
import { rebootAndWait } from "../remote/reboot.js";
import { Remote, type SshTarget } from "../remote/ssh.js";
import { uploadVerified } from "../remote/upload.js";

export interface FlashOptions {
  board: string;
  host: string[];
  inventory?: string;
  port: string;
  user: string;
  identity?: string;
  acceptNewHostKey: boolean;
  image?: string;
  out?: string;
  remoteDir: string;
  dryRun: boolean;
  check: boolean;
  rebootTimeout: string;
  parallel: string;
  json: boolean;
}

const InventorySchema = z.array(
  z.union([
    z.string(),
    z.object({ host: z.string(), port: z.number().int().optional(), user: z.string().optional(), identity: z.string().optional() }).strict(),
  ]),
);

export async function targetsFrom(opts: FlashOptions): Promise<SshTarget[]> {
  const base = { port: Number(opts.port), user: opts.user, identity: opts.identity, acceptNewHostKey: opts.acceptNewHostKey };
  // Commander hands over a plain string unless the option is declared variadic.
  const targets: SshTarget[] = [opts.host].flat().map((h) => {
    const m = /^(.*):(\d+)$/.exec(h);
    return m ? { ...base, host: m[1] as string, port: Number(m[2]) } : { ...base, host: h };
  });
  if (opts.inventory) {
    const parsed = InventorySchema.safeParse(parseYaml(await readFile(opts.inventory, "utf8")));
    if (!parsed.success) throw new InputError(`${opts.inventory}: not a list of hosts: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    for (const e of parsed.data) targets.push(typeof e === "string" ? { ...base, host: e } : { ...base, ...e, port: e.port ?? base.port, user: e.user ?? base.user });
  }
  if (targets.length === 0) throw new InputError("no board to flash", "pass --host H (repeatable) or --inventory FILE");
  return targets;
}

interface Outcome {
  host: string;
  ok: boolean;
  steps: string[];
  flashcfg?: string;
  error?: string;
  check?: LiveReport;
}

export async function flashCommand(opts: FlashOptions): Promise<void> {
  const board = await loadBoard(opts.board);
  if (!board.image || !board.flash) throw new InputError(`board ${board.name} has no image/flash settings`);
  const outDir = opts.out ?? defaultOutDir(board.name);
  const image = resolve(opts.image ?? join(outDir, board.image.output));
  if (!existsSync(image)) throw new InputError(`image ${image} does not exist`, `build it with: kiln build --board ${board.name}`);
  // Pre-flight on the build machine, before any board is touched.
  const bytes = await readFile(image);
  const header = parseUImage(bytes);
  const problems = verifyUImage(header);
  if (problems.length > 0) throw new CheckFailedError(`${image} does not verify: ${problems.join("; ")}`, "rebuild it; nothing was sent to any board");
  const limit = board.flash.maxImageSize;
  if (limit !== undefined && bytes.length > limit) {
    throw new CheckFailedError(`${image} is ${bytes.length} bytes, ${bytes.length - limit} more than the board's ${board.flash.partition} partition (${limit})`, "nothing was sent to any board");
  }
  const targets = await targetsFrom(opts);
  const outcomes: Outcome[] = [];

  const tasks = new Listr(
    targets.map((t) => ({
      title: `${t.user}@${t.host}:${t.port}`,
      task: async (_ctx: unknown, task: { output: string; title: string }) => {
        const log = new StageLog(join(outDir, "logs", `flash-${t.host}-${t.port}.log`)).reset();
        const outcome: Outcome = { host: `${t.host}:${t.port}`, ok: false, steps: [] };
        outcomes.push(outcome);
        try {
          await flashOne(board, image, bytes.length, t, opts, log, outcome, (s) => {
            task.output = s;
            outcome.steps.push(s);
          });
          outcome.ok = true;
        } catch (err) {
          outcome.error = err instanceof KilnError ? [err.message, ...err.tail, ...(err.hint ? [`hint: ${err.hint}`] : [])].join("\n") : String(err);
          throw err;
        }
      },
    })),
    {
      concurrent: Number(opts.parallel) || 4,
      exitOnError: false,
      renderer: opts.json ? "silent" : "default",
      fallbackRenderer: opts.json ? "silent" : "simple",
      rendererOptions: { collapseErrors: false },
    },
  );
  await tasks.run().catch(() => undefined);

  if (opts.json) process.stdout.write(`${JSON.stringify({ image, board: board.name, dryRun: opts.dryRun, results: outcomes }, null, 2)}\n`);
  else {
    process.stdout.write("\nHOST                      RESULT\n");
    for (const o of outcomes) process.stdout.write(`${o.host.padEnd(25)} ${o.ok ? (opts.dryRun ? "dry run ok" : "flashed, rebooted, checked") : `FAILED: ${o.error?.split("\n")[0] ?? "?"}`}\n`);
    for (const o of outcomes) if (o.check) process.stdout.write(`\n${formatLive(o.check)}\n`);
  }
  const failed = outcomes.filter((o) => !o.ok);
  // Each board's whole error (tool output, hint) goes to stderr: the table shows only its first line.
  const tail = failed.flatMap((o) => `${o.host}: ${o.error ?? "?"}`.split("\n"));
  if (failed.length > 0) throw new KilnError(`${failed.length} of ${outcomes.length} board(s) failed`, { exitCode: 1, tail, hint: `logs: ${join(outDir, "logs")}/flash-*.log` });
}

async function flashOne(board: Board, image: string, size: number, target: SshTarget, opts: FlashOptions, log: StageLog, outcome: Outcome, step: (s: string) => void): Promise<void> {
  const flash = board.flash as NonNullable<Board["flash"]>;
  step("connecting (host key must be known)");
  let remote = await Remote.connect(target, log);
  try {
    const id = matchIdentity(board, await readIdentity(remote));
    if (!id.ok) throw new KilnError(`${target.host} is not a ${board.name}: found "${id.found}", expected "${id.expected}"`, { hint: "check --host and --board; nothing was written" });
    step(`board identity: ${id.found}`);
    const fc = await whichFlashcfg(remote);
    if (fc.kind === "none") throw new KilnError(`no flashcfg on ${target.host}`, { hint: "install kiln's flashcfg (every kiln rootfs has it) or the vendor's" });
    outcome.flashcfg = fc.kind;
    step(`flashcfg: ${fc.kind === "kiln" ? "kiln's (verifies CRC and size before erasing)" : "the vendor's"} at ${fc.path ?? "?"}`);
    const mtd = await readProcMtd(remote);
    const part = mtd.find((p) => p.name === flash.partition);
    if (!part) throw new KilnError(`the board has no flash partition "${flash.partition}"`, { hint: `/proc/mtd shows: ${mtd.map((p) => `${p.dev} "${p.name}"`).join(", ") || "nothing"}` });
    if (size > part.size) throw new CheckFailedError(`the image is ${size} bytes, ${size - part.size} more than ${part.dev} "${part.name}" holds (${part.size})`, "nothing was uploaded");
    step(`image fits ${part.dev} "${part.name}": ${size} of ${part.size} bytes`);
    const free = await freeBytes(remote, opts.remoteDir);
    if (free !== undefined && free < size) throw new KilnError(`${opts.remoteDir} on the board has ${free} bytes free, the image needs ${size}`);
    const remotePath = `${opts.remoteDir}/${basename(image)}`;
    if (opts.dryRun) {
      step(`would upload to ${remotePath}, check its sha256, run flashcfg -y -f ${remotePath}, reboot and check`);
      return;
    }
    step(`uploading to ${remotePath}`);
    await uploadVerified(remote, image, remotePath, (sent, total) => step(`uploading ${Math.floor((100 * sent) / total)}%`));
    step("sha256 on the board matches");
    const r = await remote.exec(["flashcfg", "-y", "-f", remotePath], { timeoutMs: 600_000 });
    log.write(`flashcfg exit ${r.code}\n${r.stdout}${r.stderr}`);
    if (r.code !== 0) throw new KilnError(`flashcfg exited ${r.code} on ${target.host}`, { tail: `${r.stdout}${r.stderr}`.trim().split("\n").slice(-10), hint: "the board was not rebooted" });
    step("flashcfg wrote the image");
    remote = await rebootAndWait(remote, target, { timeoutMs: Number(opts.rebootTimeout) * 1000, update: step });
    step("the board is back");
    if (opts.check) {
      outcome.check = await checkLive(remote, { proof: true, containerName: "kiln-proof", memory: "512M", cpus: "0" });
      if (!outcome.check.ok) throw new CheckFailedError(`the board came back but is not ready for containers`);
      step("kiln check passed");
    }
  } finally {
    remote.close();
  }
}
