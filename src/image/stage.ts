/**
 * The image stage: the file that goes into the board's flash, made as seed 004
 * makes it by hand (gzip -9 zImage, lzma -3 ramdisk, mkimage -T multi), then
 * read back and verified. An image that cannot fit the flash partition is
 * refused before mkimage runs.
 */
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { type Compression, compressCommand } from "../compress.js";
import { handlebars } from "../handlebars.js";
import { type FlashPlan, planFlash } from "../board/flash-layout.js";
import type { Board } from "../board/schema.js";
import { hostKeyOfRamdisk } from "../rootfs/host-key.js";
import { type Inputs, sha256File } from "../cache.js";
import { CheckFailedError, InputError } from "../errors.js";
import { requireTool, run, runToFile, type StageLog, toolVersion } from "../exec.js";
import { tempSibling, writeFileAtomic } from "../fsutil.js";
import type { BuildContext } from "../stage/contract.js";
import { stageEngineHash } from "../stage/engine.js";
import { writeDtbPartitions } from "./dtb-partitions.js";
import { parseUImage, verifyUImage } from "./uimage.js";
import { kib, multiImageSize } from "./size.js";
import { packedByRootfs } from "./rootfs-packed.js";
import { modulesRamdiskCached } from "./ramdisk.js";


export interface ImagePart {
  role: "kernel" | "ramdisk" | "dtb";
  file: string;
  size: number;
}

/**
 * Refuse an image larger than the partition: by how much, and which part is the
 * largest. The limit is the flash plan's (board data or a probed unit); without
 * a plan, the board data's default layout.
 */
export function checkFits(
  board: Board,
  parts: readonly ImagePart[],
  plan: Pick<FlashPlan, "limit" | "imagePartition" | "source"> | undefined = planFlash(board),
): { total: number; limit: number | undefined } {
  const total = board.image?.type === "kernel" ? 64 + (parts[0]?.size ?? 0) : multiImageSize(parts.map((p) => p.size));
  const limit = plan?.limit;
  if (limit !== undefined && total > limit) {
    const largest = [...parts].sort((a, b) => b.size - a.size)[0] as ImagePart;
    throw new CheckFailedError(
      `the image would be ${kib(total)}, ${kib(total - limit)} more than the ${plan?.imagePartition ?? "flash"} partition holds (${kib(limit)}); ` +
        `the largest part is the ${largest.role} (${kib(largest.size)}, ${largest.file}); the partition size is from ${plan?.source ?? "the board data"}`,
      largest.role === "ramdisk" ? "make the ramdisk smaller (fewer packages, stronger compression)" : "make the kernel smaller (fewer built-in options, or modules)",
    );
  }
  return { total, limit };
}

async function compress(kind: Compression, input: string, output: string, log: StageLog): Promise<void> {
  if (kind === "none") {
    await copyFile(input, output);
    return;
  }
  const c = compressCommand(kind);
  if (!c) throw new Error(`no command for compression ${kind}`);
  await requireTool(c.cmd, c.pkg, `it compresses the ${kind} part of the image`);
  await runToFile(c.cmd, [...c.args, input], output, { log, what: `${kind} compression of ${input}` });
}

export interface ImageResult {
  file: string;
  /** The same kernel and ramdisk packed for QEMU's U-Boot (a real board also emulated: qemu.image). */
  qemuFile?: string;
  manifest: string;
  /** What the image stage could not know (flash limit, partitions), said plainly. */
  notes: string[];
}

/** What the image stage needs of the kernel stage. */
export interface ImageKernel {
  release: string;
  version: string;
  epoch: number;
  zImage: string;
  dtb?: string;
  modulesDir?: string;
  configPath: string;
}

export interface ImagePlan {
  board: Board;
  outDir: string;
  img: NonNullable<Board["image"]>;
  file: string;
  manifestFile: string;
  art: ImageKernel;
  work: string;
  ramdiskSrc: string;
  builtDtb: string | undefined;
  plan: FlashPlan | undefined;
  notes: string[];
  placed: FlashPlan["placed"];
}

export function imagePaths(board: Board, outDir: string): { file: string; manifestFile: string; qemuFile?: string } {
  const qemuOut = board.qemu?.image?.output;
  return {
    file: join(outDir, board.image?.output ?? "uImage"),
    manifestFile: join(outDir, "manifest.json"),
    ...(qemuOut ? { qemuFile: join(outDir, qemuOut) } : {}),
  };
}

/**
 * Everything the image stage reads. `ramdisk` is the pipeline's one choice
 * (--ramdisk, the rootfs stage's, or none: then a modules-only initramfs).
 */
export async function planImage(ctx: BuildContext, art: ImageKernel, ramdisk: string | undefined, log: StageLog): Promise<ImagePlan> {
  const { board, outDir } = ctx;
  const img = board.image;
  if (!img) throw new InputError(`board ${board.name} has no image settings`, `add an image: section to board/${board.name}/board.yaml`);
  const { file, manifestFile } = imagePaths(board, outDir);
  const work = join(outDir, "image");
  await mkdir(work, { recursive: true });
  const ramdiskSrc = ramdisk ?? (await modulesRamdiskCached(outDir, art.modulesDir, join(work, "ramdisk.cpio"), art.epoch, log));
  const builtDtb = img.dtbPart || board.kernel.appendDtb ? await dtbFor(board, art.dtb, work, log) : undefined;
  const plan = ctx.flash ?? planFlash(board);
  // The partitions node goes into the DTB only when every offset and size is known.
  const placed = builtDtb ? plan?.placed : undefined;
  return { board, outDir, img, file, manifestFile, art, work, ramdiskSrc, builtDtb, plan, notes: plan?.notes ?? [], placed };
}

export async function imageInputs(p: ImagePlan): Promise<Inputs> {
  const { plan, placed } = p;
  return {
    zImage: await sha256File(p.art.zImage),
    dtb: p.builtDtb ? await sha256File(p.builtDtb) : "none",
    ramdisk: await sha256File(p.ramdiskSrc),
    "image settings": JSON.stringify(p.img),
    "qemu image settings": JSON.stringify(p.board.qemu?.image ? { ...p.board.qemu, uboot: undefined } : null),
    "flash limit": String(plan?.limit ?? "unknown"),
    "flash partitions": plan ? JSON.stringify({ layout: plan.layout, image: plan.imagePartition, node: plan.node, placed: placed ?? null }) : "none",
    mkimage: await toolVersion("mkimage", ["-V"]),
    engine: await stageEngineHash("image"),
  };
}

export async function imagePreflight(): Promise<void> {
  await requireTool("mkimage", "u-boot-tools", "it writes the U-Boot image header");
}

export async function makeImage(p: ImagePlan, log: StageLog): Promise<void> {
  const { board, outDir, img, file, manifestFile, art, work, ramdiskSrc, builtDtb, plan, notes, placed } = p;
  await imagePreflight();
  for (const n of notes) log.write(`# note: ${n}`);
  let dtbFile = builtDtb;
  let dtbNode: string | undefined;
  if (builtDtb && placed) {
    dtbFile = join(work, `${basename(builtDtb, ".dtb")}.partitions.dtb`);
    dtbNode = await writeDtbPartitions(builtDtb, dtbFile, { node: plan?.node, partitions: placed }, log);
    log.write(`# ${dtbNode}/partitions: ${placed.map((p) => `"${p.name}"${p.readOnly ? " (ro)" : ""}`).join(", ")}`);
  }

  // Kernel part: zImage, with the DTB appended for boot loaders that pass ATAGS.
  // Uncompressed (-C none), zImage.dtb itself is the part, as Plat'Home packs it.
  let kernelIn = art.zImage;
  if (board.kernel.appendDtb && dtbFile) {
    kernelIn = join(work, "zImage.dtb");
    await writeFile(kernelIn, Buffer.concat([await readFile(art.zImage), await readFile(dtbFile)]));
  }
  const kernelPart = img.kernelCompression === "gzip" ? join(work, "kernel.gz") : kernelIn;
  if (img.kernelCompression === "gzip") await compress("gzip", kernelIn, kernelPart, log);
  const ramdiskPart = join(work, `ramdisk.${img.ramdiskCompression === "none" ? "img" : img.ramdiskCompression}`);
  const ramdiskSha = await sha256File(ramdiskSrc);
  const packed = await packedByRootfs(ramdiskSrc, ramdiskSha, img.ramdiskCompression);
  if (packed) {
    log.write(`# ramdisk part: ${packed}, the rootfs stage's ${img.ramdiskCompression} of this cpio (same command, sha256 as its manifest records)`);
    await copyFile(packed, ramdiskPart);
  } else {
    await compress(img.ramdiskCompression, ramdiskSrc, ramdiskPart, log);
  }

  const parts: ImagePart[] = [
    { role: "kernel", file: kernelPart, size: (await stat(kernelPart)).size },
    ...(img.type === "multi" ? [{ role: "ramdisk" as const, file: ramdiskPart, size: (await stat(ramdiskPart)).size }] : []),
    ...(img.dtbPart && dtbFile ? [{ role: "dtb" as const, file: dtbFile, size: (await stat(dtbFile)).size }] : []),
  ];
  const { total, limit } = checkFits(board, parts, plan);

  const name = handlebars().compile(img.name, { strict: true, noEscape: true })({ release: art.release, board: board.name });
  if (Buffer.byteLength(name) > 31) log.write(`# image name "${name}" is longer than 31 bytes: mkimage cuts it`);
  await mkimage(board.arch, { ...img, name }, parts, file, art.epoch, log);
  const qemuImage = await makeQemuTwin(p, ramdiskPart, name, log);

  const manifest = {
    board: board.name,
    image: { file, sha256: await sha256File(file), size: total, limit: limit ?? null, limitKnown: limit !== undefined, name },
    // The SSH host key inside: only when the packed ramdisk is the rootfs stage's, whose manifest records it.
    sshHostKey: (await hostKeyOfRamdisk(outDir, ramdiskSha)) ?? null,
    flash: plan
      ? { layout: plan.layout, partition: plan.imagePartition, source: plan.source, dtbNode: dtbNode ?? null, partitions: placed ?? plan.partitions, notes }
      : null,
    qemuImage: qemuImage ?? null,
    kernel: { version: art.version, release: art.release, configSha256: await sha256File(art.configPath) },
    sourceDateEpoch: art.epoch,
    parts: await Promise.all(parts.map(async (p) => ({ role: p.role, file: p.file, size: p.size, sha256: await sha256File(p.file) }))),
    // Where the ramdisk part came from: the rootfs stage's compressed file of this cpio, or compressed here.
    ramdiskPart: packed ? { from: "rootfs stage", file: packed } : { from: "compressed here", file: ramdiskSrc },
    tools: {
      mkimage: await toolVersion("mkimage", ["-V"]),
      compiler: await toolVersion(`${board.crossCompile}gcc`),
      gzip: await toolVersion("gzip"),
      lzma: await toolVersion("lzma"),
    },
    fragments: JSON.parse(await readFile(join(outDir, "kconfig", "audit.json"), "utf8").catch(() => '{"fragments":[]}')).fragments as unknown,
  };
  await writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** mkimage into a temporary sibling, read back and verified, then renamed: never a half-written image. */
async function mkimage(
  arch: string,
  img: { type: string; kernelCompression: string; loadAddress: number; entryAddress: number; name: string },
  parts: readonly ImagePart[],
  file: string,
  epoch: number,
  log: StageLog,
): Promise<void> {
  const tmp = tempSibling(file);
  try {
    await run(
      "mkimage",
      [
        "-A", arch, "-O", "linux", "-T", img.type, "-C", img.kernelCompression,
        "-a", hex(img.loadAddress), "-e", hex(img.entryAddress), "-n", img.name,
        "-d", parts.map((p) => p.file).join(":"), tmp,
      ],
      { log, env: { SOURCE_DATE_EPOCH: String(epoch) }, what: `mkimage ${basename(file)}` },
    );
    const problems = verifyUImage(parseUImage(await readFile(tmp)));
    if (problems.length > 0) throw new CheckFailedError(`mkimage wrote an image that does not verify: ${problems.join("; ")}`);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * A real board that QEMU also runs (qemu.image): the same zImage and the same
 * compressed ramdisk, packed a second time for QEMU's U-Boot, which has no
 * ATAGS: QEMU's device tree (with the partitions of qemu.layout) is the third
 * part instead of the DTB appended to the zImage.
 */
async function makeQemuTwin(p: ImagePlan, ramdiskPart: string, name: string, log: StageLog): Promise<Record<string, unknown> | undefined> {
  const { board, art, work, img } = p;
  const q = board.qemu;
  const twin = imagePaths(board, p.outDir).qemuFile;
  if (!q?.image || !twin) return undefined;
  const { dumpQemuDtb } = await import("./qemu-dtb.js");
  const qemuDtb = await dumpQemuDtb(board.arch, q, join(work, "qemu.dtb"), log);
  const plan = planFlash(board, { layout: q.layout });
  let dtb = qemuDtb;
  if (plan?.placed) {
    dtb = join(work, "qemu.partitions.dtb");
    await writeDtbPartitions(qemuDtb, dtb, { node: undefined, partitions: plan.placed }, log);
  }
  const kernelPart = img.kernelCompression === "gzip" ? join(work, "qemu-kernel.gz") : art.zImage;
  if (img.kernelCompression === "gzip") await compress("gzip", art.zImage, kernelPart, log);
  const parts: ImagePart[] = [
    { role: "kernel", file: kernelPart, size: (await stat(kernelPart)).size },
    { role: "ramdisk", file: ramdiskPart, size: (await stat(ramdiskPart)).size },
    { role: "dtb", file: dtb, size: (await stat(dtb)).size },
  ];
  const { total, limit } = checkFits(board, parts, plan);
  await mkimage(board.arch, { type: "multi", kernelCompression: img.kernelCompression, loadAddress: q.image.loadAddress, entryAddress: q.image.entryAddress, name }, parts, twin, art.epoch, log);
  return {
    file: twin,
    sha256: await sha256File(twin),
    size: total,
    limit: limit ?? null,
    layout: plan?.layout ?? null,
    zImageSha256: await sha256File(art.zImage),
    parts: await Promise.all(parts.map(async (x) => ({ role: x.role, file: x.file, size: x.size, sha256: await sha256File(x.file) }))),
  };
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** The DTB to pack: the kernel's own, or for qemu-virt the one QEMU generates for its machine. */
async function dtbFor(board: Board, built: string | undefined, work: string, log: StageLog): Promise<string> {
  if (built) return built;
  if (board.image?.dtbFromQemu && board.qemu) {
    const { dumpQemuDtb } = await import("./qemu-dtb.js");
    return dumpQemuDtb(board.arch, board.qemu, join(work, "qemu.dtb"), log);
  }
  throw new InputError(`board ${board.name} needs a DTB but the kernel stage built none`, `set kernel.dtb in board/${board.name}/board.yaml`);
}
