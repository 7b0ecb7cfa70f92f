/**
 * kiln flash: pre-flight, verified upload, flashcfg, reboot, check. For one
 * board or many (--host repeated, --inventory), with a concurrency limit; one
 * board failing does not stop the others.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { imagePartitionNames } from "../board/flash-layout.js";
import { loadBoard } from "../board/load.js";
import type { Board } from "../board/schema.js";
import { checkLive, formatLive, type LiveReport } from "../check/live.js";
import { CheckFailedError, InputError, KilnError } from "../errors.js";
import type { StageLog } from "../exec.js";
import { type ImageVariant, imageVariant } from "../image/board-match.js";
import { parseUImage, type UImageHeader, verifyUImage } from "../image/uimage.js";
import { defaultOutDir } from "../paths.js";
import { backupFile, checkBackup, readPartition } from "../remote/backup.js";
import { type BoardOutcome, boardLogName, failIfAny, type FleetOptions, refuseDuplicateBoards, runOnBoards, summaryTable, targetsFrom, waveOptions } from "../remote/fleet.js";
import { checkedIdentity, freeBytes, readProcMtd, whichFlashcfg } from "../remote/probe.js";
import { abandonTrial, FEED, kexecParts, startTrial, trialCapability, type TrialOptions } from "../remote/trial.js";
import { flashcfgFailureHint, superviseFlashcfg } from "../remote/flash-supervisor.js";
import { rebootAndWait } from "../remote/reboot.js";
import { announcedHostKey } from "../rootfs/host-key.js";
import { Remote, type SshTarget } from "../remote/ssh.js";
import { removeUpload, uploadVerified } from "../remote/upload.js";

/** What flash and restore share: how the image reaches the board and what happens after. */
export interface FlashRunOptions {
  out?: string;
  remoteDir: string;
  dryRun: boolean;
  check: boolean;
  rebootTimeout: string;
  parallel: string;
  canary?: string;
  maxFailures?: string;
  json: boolean;
  /** Read the partition to out/<board>/backup/ before flashcfg writes it. */
  backup: boolean;
  /** The host key the board will show after the reboot (else: the image's build manifest says, or the current one). */
  announcedHostKey?: string | undefined;
  /** let the host key the image (or a backup's sidecar) brings replace the board's pinned, different one */
  replaceHostKey?: boolean;
  /** kiln restore: the board's own firmware may carry the vendor's name and packing */
  vendorImage?: boolean;
  /** try the image from RAM first (auto: when the board can), never, or require it */
  try?: TryMode;
  /** seconds a trial has to come up and be confirmed before the watchdog resets the board */
  tryDeadline?: string;
}

export type TryMode = "auto" | "never" | "require";

export interface FlashOptions extends FleetOptions, FlashRunOptions {
  board: string;
  image?: string;
}

interface Outcome extends BoardOutcome {
  flashcfg?: string;
  /** how the image was tried before flash was written, or why it was not */
  trial?: { tried: boolean; why?: string; check?: LiveReport };
  backup?: { file: string; sha256: string; bytes: number };
  check?: LiveReport;
}

export async function flashCommand(opts: FlashOptions): Promise<void> {
  const board = await loadBoard(opts.board);
  if (!board.image || !board.flash) throw new InputError(`board ${board.name} has no image/flash settings`);
  const outDir = opts.out ?? defaultOutDir(board.name);
  const image = resolve(opts.image ?? join(outDir, board.image.output));
  if (!existsSync(image)) throw new InputError(`image ${image} does not exist`, `build it with: kiln build --board ${board.name}`);
  await flashBoards(board, image, await targetsFrom(opts, "flash"), opts);
}

/** The flash path itself, for `kiln flash` and `kiln restore`: pre-flight of the image, then every board. */
export async function flashBoards(board: Board, image: string, targets: readonly SshTarget[], opts: FlashRunOptions): Promise<void> {
  if (!board.image || !board.flash) throw new InputError(`board ${board.name} has no image/flash settings`);
  const outDir = opts.out ?? defaultOutDir(board.name);
  // Pre-flight on the build machine, before any board is touched.
  const bytes = await readFile(image);
  const header = parseUImage(bytes);
  const problems = verifyUImage(header);
  if (problems.length > 0) throw new CheckFailedError(`${image} does not verify: ${problems.join("; ")}`, "rebuild it; nothing was sent to any board");
  const { variant, mismatches } = imageVariant(board, header, { vendorImage: opts.vendorImage });
  if (mismatches.length > 0) {
    throw new CheckFailedError(`${image} is not an image for ${board.name}: ${mismatches.join("; ")}`, `build it with \`kiln build --board ${board.name}\`, or check --board; nothing was sent to any board`);
  }
  const limit = board.flash.maxImageSize;
  if (limit !== undefined && bytes.length > limit) {
    throw new CheckFailedError(`${image} is ${bytes.length} bytes, ${bytes.length - limit} more than the board's ${board.flash.partition} partition (${limit})`, "nothing was sent to any board");
  }

  // A kiln image brings its own SSH host key: after the reboot the board shows that one.
  const nextHostKey = opts.announcedHostKey ?? await announcedHostKey(outDir, createHash("sha256").update(bytes).digest("hex"));
  await refuseDuplicateBoards(targets, (t) => Remote.hostKeyOf(t));
  const outcomes = await runOnBoards<Outcome>(targets, {
    parallel: opts.parallel,
    ...waveOptions(opts),
    json: opts.json,
    logFile: (t) => join(outDir, "logs", boardLogName("flash", t.host, t.port)),
    outcome: (t) => ({ host: `${t.host}:${t.port}`, ok: false, steps: [] }),
    work: (t, log, outcome, step) => flashOne(board, image, bytes, t, { ...opts, outDir, announcedHostKey: nextHostKey, variant, header }, log, outcome, step),
  });

  if (opts.json) process.stdout.write(`${JSON.stringify({ image, board: board.name, dryRun: opts.dryRun, results: outcomes }, null, 2)}\n`);
  else {
    process.stdout.write(summaryTable(outcomes, (o) => flashResultText(o as Outcome, opts.dryRun)));
    for (const o of outcomes) if (o.backup) process.stdout.write(`backup of ${o.host}: ${o.backup.file}\n`);
    for (const o of outcomes) if (o.check) process.stdout.write(`\n${formatLive(o.check)}\n`);
  }
  failIfAny(outcomes, `${join(outDir, "logs")}/flash-*.log`);
}

/** What was done to a board that passed: said as it was, never more. */
export function flashResultText(o: { check?: unknown; trial?: { tried: boolean } }, dryRun: boolean): string {
  if (dryRun) return "dry run ok";
  const tried = o.trial?.tried ? "tried from RAM, " : "";
  return o.check ? `${tried}flashed, rebooted, checked` : `${tried}flashed and rebooted; not checked (--no-check)`;
}

async function flashOne(
  board: Board,
  image: string,
  bytes: Buffer,
  target: SshTarget,
  opts: FlashRunOptions & { outDir: string; announcedHostKey?: string | undefined; variant: ImageVariant; header: UImageHeader },
  log: StageLog,
  outcome: Outcome,
  step: (s: string) => void,
): Promise<void> {
  const size = bytes.length;
  step("connecting (host key must be known)");
  let remote = await Remote.open(target, log);
  try {
    refuseKeyReplacement(target, remote.hostKey, opts.announcedHostKey, opts.replaceHostKey === true);
    const id = await checkedIdentity(remote, board);
    step(`board identity: ${id.found}`);
    // The QEMU twin carries QEMU's device tree and load address: it cannot boot the real board, nor the board's own image QEMU.
    if (id.emulated !== (opts.variant === "qemu")) {
      throw new CheckFailedError(
        id.emulated ? `${target.host} is ${board.name} under QEMU, and ${basename(image)} is the image for the real board` : `${basename(image)} is the QEMU image of ${board.name}, and ${target.host} is the real board`,
        `flash ${id.emulated ? board.qemu?.image?.output ?? "the QEMU image" : board.image?.output ?? "the board's image"} instead; nothing was written`,
      );
    }
    const fc = await whichFlashcfg(remote);
    if (fc.kind === "none") throw new KilnError(`no flashcfg on ${target.host}`, { hint: "install kiln's flashcfg (every kiln rootfs has it) or the vendor's" });
    outcome.flashcfg = fc.kind;
    step(`flashcfg: ${fc.kind === "kiln" ? "kiln's (verifies CRC and size before erasing)" : "the vendor's"} at ${fc.path ?? "?"}`);
    const mtd = await readProcMtd(remote);
    // Any layout of the board may be running (e.g. qemu-virt's ax3-names): its kernel-image partition is the target.
    const names = imagePartitionNames(board);
    const part = mtd.find((p) => names.includes(p.name));
    if (!part) throw new KilnError(`the board has no flash partition "${names.join('" or "')}"`, { hint: `/proc/mtd shows: ${mtd.map((p) => `${p.dev} "${p.name}"`).join(", ") || "nothing"}` });
    if (size > part.size) throw new CheckFailedError(`the image is ${size} bytes, ${size - part.size} more than ${part.dev} "${part.name}" holds (${part.size})`, "nothing was uploaded");
    step(`image fits ${part.dev} "${part.name}": ${size} of ${part.size} bytes`);
    const free = await freeBytes(remote, opts.remoteDir);
    if (free !== undefined && free < size) throw new KilnError(`${opts.remoteDir} on the board has ${free} bytes free, the image needs ${size}`);
    if (opts.backup) {
      const file = backupFile(opts.outDir, target, part.name);
      if (opts.dryRun) step(`would back up ${part.dev} "${part.name}" (${part.size} bytes) to ${file}`);
      else {
        step(`backing up ${part.dev} "${part.name}" (${part.size} bytes)`);
        const read = await readPartition(remote, part, file);
        step(`backed up ${part.dev} "${part.name}" to ${file}`);
        await checkBackup(remote, board, part, file, read.sha256);
        outcome.backup = { file, ...read };
        step(`backup checked: it holds an image kiln restore accepts, and its sha256 equals the board's sha256sum of /dev/${part.dev}`);
      }
    }
    const mode = opts.try ?? "auto";
    const cannot = mode === "never" ? "--no-try" : await trialCapability(remote);
    if (cannot !== undefined) {
      if (mode === "require") throw new KilnError(`cannot try the image on ${target.host} before writing flash: ${cannot}`, { hint: "nothing was written; flash without --require-try to write it directly" });
      outcome.trial = { tried: false, why: cannot };
      step(mode === "never" ? "not tried first (--no-try): writing flash directly" : `cannot try the image first: ${cannot}; writing flash directly`);
    }
    if (opts.dryRun) {
      step(
        cannot === undefined
          ? `would kexec the image from RAM with the watchdog armed (${trialDeadline(board, opts)} s), check it with the container proof, then write flash from the trial system, reboot${opts.check ? " and check" : ""}`
          : `would upload to a private directory in ${opts.remoteDir}, check its sha256, run flashcfg -y -f on it, reboot${opts.check ? " and check" : ""}`,
      );
      return;
    }
    if (cannot === undefined) {
      remote = await flashByTrial(remote, bytes, target, { ...opts, board, trialCmdline: board.flash?.trialCmdline }, outcome, step);
      if (opts.check) {
        outcome.check = await checkLive(remote, { proof: true, containerName: "kiln-proof", memory: "512M", cpus: "0" });
        if (!outcome.check.ok) throw new CheckFailedError("the board came back from flash but is not ready for containers (the trial of the same image passed)");
        step("kiln check passed");
      }
      return;
    }
    step(`uploading to a private directory in ${opts.remoteDir}`);
    // One line per tenth: a log or a CI run gets eleven lines, not one per SFTP packet.
    let shown = -1;
    const up = await uploadVerified(remote, bytes, opts.remoteDir, basename(image), (sent, total) => {
      const tenth = Math.floor((10 * sent) / total);
      if (tenth === shown) return;
      shown = tenth;
      step(`uploading ${tenth * 10}%`);
    });
    try {
      step("sha256 on the board matches");
      // kiln's flashcfg checks the sha256 of the file it writes from, right before erasing.
      const args = ["flashcfg", "-y", "-f", up.path, ...(fc.kind === "kiln" ? ["-s", up.sha256] : [])];
      step("flashcfg started on the board (detached: Ctrl-C or a dropped link cannot stop it halfway)");
      const r = await superviseFlashcfg(remote, target, { dir: up.dir, args, timeoutMs: 600_000, step });
      remote = r.remote;
      log.write(`flashcfg exit ${r.code}\n${r.output}`);
      if (r.code !== 0) {
        throw new KilnError(`flashcfg exited ${r.code} on ${target.host}`, { tail: r.output.trim().split("\n").slice(-10), hint: `${flashcfgFailureHint(r.code, fc.kind !== "kiln")}; the board was not rebooted` });
      }
      if (r.interrupted) throw interruptedAfterWrite(target);
    } finally {
      await removeUpload(remote, up.dir);
    }
    step("flashcfg wrote the image");
    remote = await rebootAndWait(remote, { ...target, announcedHostKey: opts.announcedHostKey }, { timeoutMs: Number(opts.rebootTimeout) * 1000, update: step });
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

/**
 * Try, then commit: kexec into the image with the watchdog armed, check the
 * trial system with the container proof, write flash from it, reboot from
 * flash. Returns a connection to the board running the image from flash.
 */
async function flashByTrial(
  remote: Remote,
  bytes: Buffer,
  target: SshTarget,
  opts: FlashRunOptions & { announcedHostKey?: string | undefined; header: UImageHeader; board: Board; trialCmdline: readonly string[] | undefined },
  outcome: Outcome,
  step: (s: string) => void,
): Promise<Remote> {
  const deadline = trialDeadline(opts.board, opts);
  const rebootMs = Number(opts.rebootTimeout) * 1000;
  // The watchdog fires the deadline after its last ping, and the trial kernel's probe and /init
  // each ping it once more: wait for two deadlines, then a boot.
  const tOpts: TrialOptions = { remoteDir: opts.remoteDir, deadline, announcedHostKey: opts.announcedHostKey, timeoutMs: 2 * deadline * 1000 + rebootMs, step, ...(opts.trialCmdline ? { cmdline: opts.trialCmdline } : {}) };
  const { trial, token, before } = await startTrial(remote, target, kexecParts(bytes, opts.header), tOpts);
  step(`trial: the new image is up (Linux ${(await trial.exec(["uname", "-r"])).stdout.trim()}); checking it live, with the container proof`);
  // kiln's pings are the confirmation: a trial that loses kiln is reset by the watchdog.
  await trial.execScript(FEED);
  const feeder = setInterval(() => void trial.execScript(FEED).catch(() => undefined), 10_000);
  let report: LiveReport;
  try {
    report = await checkLive(trial, { proof: true, containerName: "kiln-trial", memory: "512M", cpus: "0" });
  } catch (err) {
    clearInterval(feeder);
    return abandonTrial(trial, target, before, token, `the check could not run on the trial system: ${(err as Error).message}`, tOpts);
  }
  clearInterval(feeder);
  outcome.trial = { tried: true, check: report };
  if (!report.ok) {
    const failed = report.checks.filter((c) => !c.ok && c.need === "required").map((c) => `${c.label}${c.detail ? ` (${c.detail})` : ""}`);
    return abandonTrial(trial, target, before, token, `the trial system failed the check: ${failed.join("; ")}`, tOpts);
  }
  step("trial passed: writing flash from the trial system");
  await trial.execScript(FEED);
  const up = await uploadVerified(trial, bytes, opts.remoteDir, "image.uImage");
  // flashcfg runs on the board, fed by the board: kiln only watches.
  const trialTarget = { ...target, announcedHostKey: opts.announcedHostKey };
  const r = await superviseFlashcfg(trial, trialTarget, { dir: up.dir, args: ["flashcfg", "-y", "-f", up.path, "-s", up.sha256], feedDeadline: deadline, timeoutMs: 600_000, step });
  if (r.code !== 0) {
    throw new KilnError(`flashcfg exited ${r.code} on the trial system`, {
      tail: r.output.trim().split("\n").slice(-10),
      hint: `${flashcfgFailureHint(r.code, false)}. The watchdog resets the board when flashcfg ends`,
    });
  }
  await removeUpload(r.remote, up.dir);
  if (r.interrupted) throw interruptedAfterWrite(target, "the watchdog resets the trial system into it shortly");
  step("flashcfg wrote the image (from the trial system)");
  const back = await rebootAndWait(r.remote, trialTarget, { timeoutMs: rebootMs, update: step });
  step("the board is back, booted from flash");
  return back;
}

/**
 * A kiln image carries its build's SSH host key, and kiln accepts that key
 * after the reboot because the build announced it. When the board is pinned
 * with another key, that is a replacement of a trusted key by a file: done only
 * when asked, and refused before anything is written.
 */
export function refuseKeyReplacement(target: SshTarget, pinned: string, announced: string | undefined, allowed: boolean): void {
  if (announced === undefined || announced === pinned || allowed) return;
  throw new KilnError(`the image brings its own SSH host key ${announced}, and ${target.label ?? target.host} is pinned with ${pinned}`, {
    hint:
      "nothing was written. After the flash the board would show the image's key; pass --replace-host-key to let it replace the pinned one " +
      "(kiln then accepts exactly that key), or flash an image built in the out directory that made the board's current image (same key)",
  });
}

/** Ctrl-C during the write: kiln waited for flashcfg's outcome (it wrote and verified), then stops short of the reboot. */
function interruptedAfterWrite(target: SshTarget, next = "it boots the new image at its next reboot"): KilnError {
  return new KilnError(`interrupted: flashcfg on ${target.host} finished, the image is written and verified; not rebooted by kiln`, { exitCode: 130, hint: next });
}

/** --try-deadline, else the board's own (a board that boots slowly needs longer), else 120 s. */
function trialDeadline(board: Board, opts: { tryDeadline?: string | undefined }): number {
  return opts.tryDeadline !== undefined ? Number(opts.tryDeadline) : (board.flash?.trialDeadline ?? 120);
}
