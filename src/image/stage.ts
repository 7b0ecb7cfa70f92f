/**
 * The image stage: the file that goes into the board's flash, made as seed 004
 * makes it by hand (gzip -9 zImage, lzma -3 ramdisk, mkimage -T multi), then
 * read back and verified. An image that cannot fit the flash partition is
 * refused before mkimage runs.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import Handlebars from "handlebars";
import { type FlashPlan, planFlash } from "../board/flash-layout.js";
import type { Board } from "../board/schema.js";
import { hostKeyOfRamdisk } from "../rootfs/host-key.js";
import { checkStamp, type Inputs, sha256File, writeStamp } from "../cache.js";
import { CheckFailedError, InputError } from "../errors.js";
import { requireTool, run, type StageLog } from "../exec.js";
import { tempSibling, writeFileAtomic } from "../fsutil.js";
import { toolVersion } from "../kernel/build.js";
import { engineHash, kernelPaths, type BuildOptions, type StageOutcome } from "../pipeline.js";
import { writeDtbPartitions } from "./dtb-partitions.js";
import { parseUImage, verifyUImage } from "./uimage.js";
import { modulesRamdiskCached } from "./ramdisk.js";

export interface ImagePart {
  role: "kernel" | "ramdisk" | "dtb";
  file: string;
  size: number;
}

/** Bytes a multi image takes: header, the size list with its 0 terminator, parts padded to 4. */
export function multiImageSize(parts: readonly number[]): number {
  return 64 + 4 * (parts.length + 1) + parts.reduce((sum, s) => sum + Math.ceil(s / 4) * 4, 0);
}

export function kib(n: number): string {
  return `${n} bytes (${(n / 1024).toFixed(1)} KiB)`;
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

async function compress(kind: string, input: string, output: string, log: StageLog): Promise<void> {
  if (kind === "none") {
    await copyFile(input, output);
    return;
  }
  const [cmd, args, pkg] =
    kind === "gzip" ? ["gzip", ["-9n", "-c", input], "gzip"] : kind === "lzma" ? ["lzma", ["-3", "-c", input], "xz-utils"] : ["xz", ["--check=crc32", "-9", "-c", input], "xz-utils"];
  await requireTool(cmd as string, pkg as string, `it compresses the ${kind} part of the image`);
  const r = await import("execa").then(({ execa }) => execa(cmd as string, args as string[], { encoding: "buffer", stdin: "ignore", reject: false }));
  if (r.failed) {
    log.write(String(r.stderr));
    throw new CheckFailedError(`${cmd} failed on ${input}`);
  }
  log.write(`$ ${cmd} ${(args as string[]).join(" ")} > ${output}`);
  await writeFile(output, r.stdout as Uint8Array);
}

export interface ImageResult {
  outcome: StageOutcome;
  file: string;
  manifest: string;
  /** What the image stage could not know (flash limit, partitions), said plainly. */
  notes: string[];
}

export async function runImageStage(opts: BuildOptions, log: StageLog): Promise<ImageResult> {
  const { board, outDir } = opts;
  const img = board.image;
  if (!img) throw new InputError(`board ${board.name} has no image settings`, `add an image: section to board/${board.name}/board.yaml`);
  const file = join(outDir, img.output);
  const manifestFile = join(outDir, "manifest.json");
  const paths = kernelPaths(outDir);
  if (!existsSync(paths.manifest)) throw new InputError(`no kernel build in ${outDir}`, `run \`kiln kernel --board ${board.name}\` or \`kiln build\` first`);
  const art = JSON.parse(await readFile(paths.manifest, "utf8")) as { release: string; zImage: string; dtb?: string; modulesDir?: string; version: string; epoch: number };
  await requireTool("mkimage", "u-boot-tools", "it writes the U-Boot image header");

  const work = join(outDir, "image");
  await mkdir(work, { recursive: true });
  const ramdiskSrc = opts.ramdisk ?? (await modulesRamdiskCached(outDir, art.modulesDir, join(work, "ramdisk.cpio"), art.epoch, log));
  const builtDtb = img.dtbPart || board.kernel.appendDtb ? await dtbFor(board, art.dtb, work, log) : undefined;
  const plan = opts.flash ?? planFlash(board);
  const notes = plan?.notes ?? [];
  // The partitions node goes into the DTB only when every offset and size is known.
  const placed = builtDtb ? plan?.placed : undefined;

  const inputs: Inputs = {
    zImage: await sha256File(art.zImage),
    dtb: builtDtb ? await sha256File(builtDtb) : "none",
    ramdisk: await sha256File(ramdiskSrc),
    "image settings": JSON.stringify(img),
    "flash limit": String(plan?.limit ?? "unknown"),
    "flash partitions": plan ? JSON.stringify({ layout: plan.layout, image: plan.imagePartition, node: plan.node, placed: placed ?? null }) : "none",
    mkimage: await toolVersion("mkimage", ["-V"]),
    engine: await engineHash("./image/stage.js", "./image/uimage.js", "./image/ramdisk.js", "./image/dtb-partitions.js", "./board/flash-layout.js"),
  };
  const fresh = await checkStamp(outDir, "image", inputs);
  // A skipped stage leaves its log as it was; the notes still reach the user through the result.
  if (fresh.fresh && !opts.force.includes("image")) return { outcome: { stage: "image", ran: false, why: [] }, file, manifest: manifestFile, notes };
  for (const n of notes) log.write(`# note: ${n}`);
  log.write(`# image runs: ${fresh.why.join(", ")}`);

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
  await compress(img.ramdiskCompression, ramdiskSrc, ramdiskPart, log);

  const parts: ImagePart[] = [
    { role: "kernel", file: kernelPart, size: (await stat(kernelPart)).size },
    ...(img.type === "multi" ? [{ role: "ramdisk" as const, file: ramdiskPart, size: (await stat(ramdiskPart)).size }] : []),
    ...(img.dtbPart && dtbFile ? [{ role: "dtb" as const, file: dtbFile, size: (await stat(dtbFile)).size }] : []),
  ];
  const { total, limit } = checkFits(board, parts, plan);

  const name = Handlebars.compile(img.name, { strict: true, noEscape: true })({ release: art.release, board: board.name });
  if (Buffer.byteLength(name) > 31) log.write(`# image name "${name}" is longer than 31 bytes: mkimage cuts it`);
  const tmp = tempSibling(file);
  try {
    await run(
      "mkimage",
      [
        "-A", board.arch, "-O", "linux", "-T", img.type, "-C", img.kernelCompression,
        "-a", hex(img.loadAddress), "-e", hex(img.entryAddress), "-n", name,
        "-d", parts.map((p) => p.file).join(":"), tmp,
      ],
      { log, env: { SOURCE_DATE_EPOCH: String(art.epoch) }, what: "mkimage" },
    );
    const header = parseUImage(await readFile(tmp));
    const problems = verifyUImage(header);
    if (problems.length > 0) throw new CheckFailedError(`mkimage wrote an image that does not verify: ${problems.join("; ")}`);
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }

  const manifest = {
    board: board.name,
    image: { file, sha256: await sha256File(file), size: total, limit: limit ?? null, limitKnown: limit !== undefined, name },
    // The SSH host key inside: only when the packed ramdisk is the rootfs stage's, whose manifest records it.
    sshHostKey: (await hostKeyOfRamdisk(outDir, inputs.ramdisk ?? "")) ?? null,
    flash: plan
      ? { layout: plan.layout, partition: plan.imagePartition, source: plan.source, dtbNode: dtbNode ?? null, partitions: placed ?? plan.partitions, notes }
      : null,
    kernel: { version: art.version, release: art.release, configSha256: await sha256File(join(paths.objDir, ".config")) },
    sourceDateEpoch: art.epoch,
    parts: await Promise.all(parts.map(async (p) => ({ role: p.role, file: p.file, size: p.size, sha256: await sha256File(p.file) }))),
    tools: {
      mkimage: inputs.mkimage,
      compiler: await toolVersion(`${board.crossCompile}gcc`),
      gzip: await toolVersion("gzip"),
      lzma: await toolVersion("lzma"),
    },
    fragments: JSON.parse(await readFile(join(outDir, "kconfig", "audit.json"), "utf8").catch(() => '{"fragments":[]}')).fragments as unknown,
  };
  await writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  await writeStamp(outDir, "image", inputs, [file, manifestFile]);
  return { outcome: { stage: "image", ran: true, why: fresh.why }, file, manifest: manifestFile, notes };
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
