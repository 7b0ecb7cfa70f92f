/**
 * Flash backups: the board's partition read back whole to the build machine
 * before flashcfg writes it (`kiln flash --backup`), and the image inside such a
 * backup for `kiln restore`.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { KilnError } from "../errors.js";
import { shellQuote } from "../exec.js";
import type { Board } from "../board/schema.js";
import { imageVariant } from "../image/board-match.js";
import { describeKind, parseUImage, sniffKind, UIMAGE_HEADER_SIZE, UIMAGE_MAGIC, verifyUImage } from "../image/uimage.js";
import { BOARD_ROOT, type MtdPartition } from "./probe.js";
import type { Remote, SshTarget } from "./ssh.js";

/** out/<board>/backup/<host>-<partition>-<UTC time>.bin; the port joins the host when it is not 22. */
export function backupFile(outDir: string, target: Pick<SshTarget, "host" | "port">, partition: string, when = new Date()): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._]+/g, "_");
  const host = target.port === 22 ? target.host : `${target.host}_${target.port}`;
  const time = when.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return join(outDir, "backup", `${safe(host)}-${safe(partition)}-${time}.bin`);
}

/** `sha256sum -c` reads the sidecar in the backup's own directory. */
export function sidecarText(file: string, sha256: string): string {
  return `${sha256}  ${basename(file)}\n`;
}

/**
 * Reads /dev/mtdN whole into `file` (through a partial name, so a cut read never
 * looks like a backup) and writes its sha256 sidecar. The read must be exactly
 * the partition's size.
 */
export async function readPartition(remote: Remote, part: MtdPartition, file: string): Promise<{ sha256: string; bytes: number }> {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.part`;
  try {
    const r = await remote.execToFile(`cat "${BOARD_ROOT}/dev/"${shellQuote(part.dev)}`, partial, { timeoutMs: 1_800_000 });
    if (r.code !== 0) {
      throw new KilnError(`cannot read /dev/${part.dev} "${part.name}" on ${remote.target.host} (exit ${r.code})`, {
        tail: r.stderr.trim().split("\n").slice(-5),
        hint: "nothing was written to the board; run without --backup to flash without one",
      });
    }
    if (r.bytes !== part.size) {
      throw new KilnError(`the backup of /dev/${part.dev} has ${r.bytes} bytes, /proc/mtd says the partition has ${part.size}`, {
        hint: "nothing was written to the board; the partial backup was removed",
      });
    }
    // The sidecars first: a backup that exists always has them. The dump holds the
    // image's SSH host key, so it is private; the host key the board showed goes
    // alongside, for `kiln restore` to expect it when the board comes back.
    await writeFile(`${file}.sha256`, sidecarText(file, r.sha256));
    await writeFile(`${file}.hostkey`, `${remote.hostKey}\n`);
    await chmod(partial, 0o600);
    await rename(partial, file);
    return { sha256: r.sha256, bytes: r.bytes };
  } finally {
    await rm(partial, { force: true });
  }
}

/**
 * A backup is only worth the erase it allows if it can be put back: before
 * flashcfg runs, the dump must hold an image `kiln restore` accepts for this
 * board, and the board's own sha256sum of the partition must equal the dump's
 * (a read that lost or changed bytes on the way is not a backup). Throws, with
 * nothing written to the board.
 */
export async function checkBackup(remote: Remote, board: Board, part: MtdPartition, file: string, sha256: string): Promise<void> {
  let header;
  try {
    header = parseUImage(uImageInPartition(await readFile(file), file));
  } catch (err) {
    throw new KilnError(`the backup of /dev/${part.dev} is not one kiln restore could put back: ${(err as Error).message}`, {
      hint: `nothing was written to the board. The dump is kept (${file}); to flash anyway, run again without --backup`,
    });
  }
  const { mismatches } = imageVariant(board, header, { vendorImage: true });
  if (mismatches.length > 0) {
    throw new KilnError(`the backup of /dev/${part.dev} holds an image kiln restore would refuse for ${board.name}: ${mismatches.join("; ")}`, {
      hint: `nothing was written to the board. The dump is kept (${file}); to flash anyway, run again without --backup`,
    });
  }
  const r = await remote.execScript(`sha256sum "${BOARD_ROOT}/dev/"${shellQuote(part.dev)}`, { timeoutMs: 600_000 });
  const onBoard = r.code === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
  if (onBoard !== sha256) {
    await Promise.all([file, `${file}.sha256`, `${file}.hostkey`].map((f) => rm(f, { force: true })));
    throw new KilnError(
      onBoard === undefined
        ? `cannot compare the backup with /dev/${part.dev} on ${remote.target.host}: sha256sum exited ${r.code}`
        : `the backup of /dev/${part.dev} does not match the partition: the board's sha256sum says ${onBoard}, the ${basename(file)} read is ${sha256}`,
      { tail: r.stderr.trim().split("\n").slice(-5), hint: "nothing was written to the board and the backup was removed; run again (a second read is usually whole), or without --backup" },
    );
  }
}

/** A backup read for restoring: its sidecar agrees, and it holds a whole, verified uImage. */
export async function imageFromBackup(file: string): Promise<{ image: Buffer; checked: "sidecar" | "no sidecar" }> {
  const bytes = await readFile(file).catch(() => {
    throw new KilnError(`cannot read the backup ${file}`, { hint: "give a file written by kiln flash --backup (out/<board>/backup/)" });
  });
  let checked: "sidecar" | "no sidecar" = "no sidecar";
  if (existsSync(`${file}.sha256`)) {
    const want = (await readFile(`${file}.sha256`, "utf8")).trim().split(/\s+/)[0];
    const have = createHash("sha256").update(bytes).digest("hex");
    if (want !== have) throw new KilnError(`${file} does not match its sha256 sidecar (${want ?? "empty"}, the file is ${have})`, { hint: "the backup is damaged; nothing was sent to the board" });
    checked = "sidecar";
  }
  return { image: uImageInPartition(bytes, file), checked };
}

/**
 * A partition dump is the image followed by whatever the flash held after it
 * (erased 0xff, or an older longer image): only the image is put back, cut to
 * the length its header announces, so its CRCs say whether it is whole.
 */
export function uImageInPartition(bytes: Buffer, file: string): Buffer {
  if (bytes.length < UIMAGE_HEADER_SIZE || bytes.readUInt32BE(0) !== UIMAGE_MAGIC) {
    const kind = bytes.every((b) => b === 0xff) ? "erased" : sniffKind(bytes);
    const what = kind === "erased" ? "only erased flash (0xff)" : kind === "unknown" ? "no format kiln knows" : describeKind(kind);
    throw new KilnError(`${file} does not start with a uImage header: it holds ${what}`, {
      hint:
        "restore puts back kernel images only, through flashcfg, which refuses anything else. " +
        "To write raw bytes to the partition, copy the file to the board and use flashcp FILE /dev/mtdN from its console",
    });
  }
  const image = bytes.subarray(0, Math.min(bytes.length, UIMAGE_HEADER_SIZE + bytes.readUInt32BE(12)));
  const problems = verifyUImage(parseUImage(image));
  if (problems.length > 0) throw new KilnError(`the uImage at the start of ${file} does not verify: ${problems.join("; ")}`, { hint: "the partition held a damaged image when it was backed up; nothing was sent to the board" });
  return image;
}
