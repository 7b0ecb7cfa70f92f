/**
 * The initramfs: a newc cpio of the staged root, reproducible (sorted names,
 * one mtime, normalised inode numbers), compressed the board's way; and the
 * other direction for --base-ramdisk.
 */
import { existsSync } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { InputError, MissingToolError } from "../errors.js";
import { findOnPath, requireTool, run, type StageLog } from "../exec.js";
import { tempSibling } from "../fsutil.js";

import { type Compression, compressCommand } from "../compress.js";

export type { Compression };

export function compressionExt(c: Compression): string {
  return c === "gzip" ? "gz" : c === "none" ? "" : c;
}


/** Nodes the kernel needs before /init runs (it opens /dev/console for init's stdio). */
export async function ensureDeviceNodes(root: string, log: StageLog): Promise<void> {
  await mkdir(join(root, "dev"), { recursive: true });
  for (const [name, type, major, minor, mode] of [
    ["console", "c", "5", "1", "600"],
    ["null", "c", "1", "3", "666"],
  ] as const) {
    const p = join(root, "dev", name);
    if (!existsSync(p)) await run("mknod", ["-m", mode, p, type, major, minor], { log, what: `mknod /dev/${name}` });
  }
}


export async function compressFile(c: Compression, input: string, out: string, log: StageLog): Promise<void> {
  const cc = compressCommand(c);
  const tmp = tempSibling(out);
  try {
    if (!cc) {
      await run("cp", [input, tmp], { log, what: "copy" });
    } else {
      await requireTool(cc.cmd, cc.pkg, `it compresses the ramdisk (${c}, as the board's image needs)`);
      await run("sh", ["-c", `${cc.cmd} ${cc.args.join(" ")} "$1" > "$2"`, "sh", input, tmp], { log, what: `${cc.cmd}` });
    }
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
}

export type RamdiskKind = "cpio" | "gzip" | "xz" | "lzma" | "ext2" | "unknown";

/** What a ramdisk file is, from its first bytes (and the ext2 superblock magic at 1080). */
export async function sniffRamdisk(file: string): Promise<RamdiskKind> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(1082);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const b = buf.subarray(0, bytesRead);
    if (b.subarray(0, 6).toString("latin1") === "070701" || b.subarray(0, 6).toString("latin1") === "070702") return "cpio";
    if (b[0] === 0x1f && b[1] === 0x8b) return "gzip";
    if (b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
    if (b[0] === 0x5d && b[1] === 0x00 && b[2] === 0x00) return "lzma";
    if (b.length >= 1082 && b[1080] === 0x53 && b[1081] === 0xef) return "ext2";
    return "unknown";
  } finally {
    await fh.close();
  }
}

/**
 * Unpack a ramdisk (cpio, compressed cpio, or ext2 image: compressed or not)
 * into dir, as root so owners and device nodes survive.
 */
export async function unpackRamdisk(file: string, dir: string, work: string, log: StageLog): Promise<RamdiskKind> {
  if (!existsSync(file)) throw new InputError(`--base-ramdisk ${file}: no such file`);
  await mkdir(dir, { recursive: true });
  let kind = await sniffRamdisk(file);
  let plain = file;
  const decomp: Record<string, [string, string]> = { gzip: ["gzip", "gzip"], xz: ["xz", "xz-utils"], lzma: ["lzma", "xz-utils"] };
  const d = decomp[kind];
  if (d) {
    await requireTool(d[0], d[1], `it unpacks the ${kind} base ramdisk`);
    plain = join(work, "base-ramdisk.raw");
    await run("sh", ["-c", `${d[0]} -dc "$1" > "$2"`, "sh", file, plain], { log, what: `${d[0]} -d ${file}` });
    kind = await sniffRamdisk(plain);
  }
  if (kind === "cpio") {
    await run("sh", ["-c", 'cd "$1" && cpio --quiet -idm --no-absolute-filenames < "$2"', "sh", dir, plain], { log, what: "cpio -i (base ramdisk)" });
    return "cpio";
  }
  if (kind === "ext2") {
    if (!(await findOnPath("debugfs"))) throw new MissingToolError("debugfs", "e2fsprogs", "it reads the ext2 base ramdisk");
    // rdump keeps owners and modes when run as root.
    await run("debugfs", ["-R", `rdump / ${dir}`, plain], { log, what: "debugfs rdump (base ramdisk)" });
    return "ext2";
  }
  throw new InputError(`--base-ramdisk ${file}: not a cpio archive or an ext2 image (plain, gzip, xz or lzma)`, "give the ramdisk itself, e.g. the second part of the vendor's uImage (`dumpimage -T multi -p 1`)");
}
