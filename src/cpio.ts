/**
 * The reproducible initramfs: a newc cpio of a staged tree with sorted names,
 * one mtime and normalised inode numbers, written to a temporary name and
 * renamed. One place for the rootfs stage's ramdisk and the image stage's
 * modules-only one.
 */
import { rename, rm } from "node:fs/promises";
import { requireTool, run, type StageLog } from "./exec.js";
import { tempSibling } from "./fsutil.js";

export async function packCpio(root: string, out: string, epoch: number, log: StageLog, opts: { rootOwned?: boolean } = {}): Promise<void> {
  await requireTool("cpio", "cpio", "it packs the initramfs");
  await run("find", [root, "-exec", "touch", "-h", "-d", `@${epoch}`, "{}", "+"], { log, what: "fixing mtimes" });
  // A tree staged by this (non-root or root) user that must be root's on the board: -R 0:0.
  const owner = opts.rootOwned ? " -R 0:0" : "";
  const tmp = tempSibling(out);
  try {
    await run("sh", ["-c", `cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible${owner} > "$2"`, "sh", root, tmp], { log, what: "cpio" });
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
}
