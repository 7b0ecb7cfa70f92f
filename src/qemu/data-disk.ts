/**
 * An instance's data disk: a raw file made once, formatted by e2fsprogs with
 * the board's data label, and kept with the instance's flash files, so that
 * containers on it survive reboots and restarts of the instance. kiln formats
 * only a file it has just made itself, never one that already exists.
 */
import { existsSync } from "node:fs";
import { rename, rm, truncate, writeFile } from "node:fs/promises";
import type { Board } from "../board/schema.js";
import { InputError } from "../errors.js";
import { requireTool, run, type StageLog } from "../exec.js";
import { tempSibling } from "../fsutil.js";
import type { InstancePaths } from "./instance.js";

export interface DataDisk {
  file: string;
  label: string;
  made: boolean;
}

export async function ensureDataDisk(board: Board, paths: InstancePaths, log: StageLog): Promise<DataDisk> {
  const label = board.rootfs?.data?.label;
  if (!label) {
    throw new InputError(`board ${board.name} names no data filesystem`, `add rootfs.data.label to board/${board.name}/board.yaml, so that /init knows which disk to mount`);
  }
  if (existsSync(paths.dataDisk)) return { file: paths.dataDisk, label, made: false };
  await requireTool("mkfs.ext4", "e2fsprogs", "it formats the instance's data disk");
  const tmp = tempSibling(paths.dataDisk);
  try {
    await writeFile(tmp, "");
    await truncate(tmp, board.qemu?.disk.size ?? 1024 ** 3);
    await run("mkfs.ext4", ["-q", "-F", "-L", label, "-E", "root_owner=0:0", tmp], { log, what: `mkfs.ext4 -L ${label}` });
    await rename(tmp, paths.dataDisk);
  } finally {
    await rm(tmp, { force: true });
  }
  return { file: paths.dataDisk, label, made: true };
}
