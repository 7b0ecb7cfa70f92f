/**
 * kiln restore: put a partition backup of `kiln flash --backup` back on its
 * board, through the flash path itself (pre-flight, verified upload, flashcfg,
 * reboot, check).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { loadBoard } from "../board/load.js";
import { imageFromBackup } from "../remote/backup.js";
import { targetsFrom } from "../remote/fleet.js";
import { type FlashRunOptions, flashBoards } from "./flash.js";

export interface RestoreOptions extends Omit<FlashRunOptions, "backup" | "parallel"> {
  board: string;
  host: string;
  file: string;
  port: string;
  user: string;
  identity?: string;
  acceptNewHostKey: boolean;
}

export async function restoreCommand(opts: RestoreOptions): Promise<void> {
  const board = await loadBoard(opts.board);
  const { image, checked } = await imageFromBackup(opts.file);
  if (!opts.json) process.stderr.write(`${opts.file}: a uImage of ${image.length} bytes (${checked === "sidecar" ? "sha256 sidecar matches" : "no sha256 sidecar; its CRCs verify"})\n`);
  const targets = await targetsFrom(opts, "restore");
  // The upload keeps the local name: the board's log then names the backup it came from.
  const dir = await mkdtemp(join(tmpdir(), "kiln-restore-"));
  const local = join(dir, `${basename(opts.file, ".bin")}.uImage`);
  try {
    await writeFile(local, image);
    // The board comes back with the key it had when the backup was taken.
    const hostKey = (await readFile(`${opts.file}.hostkey`, "utf8").catch(() => "")).trim() || undefined;
    await flashBoards(board, local, targets, { ...opts, backup: false, parallel: "1", announcedHostKey: hostKey, vendorImage: true, try: "never" });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
