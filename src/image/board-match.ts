/**
 * Does an image fit the board it is about to be flashed into? The pre-flight
 * checks the image's own CRCs and size; this compares its header with the
 * board data, so an image for another board (another load address, no DTB
 * part, another packing) is refused before anything is sent.
 */
import type { Board } from "../board/schema.js";
import type { UImageHeader } from "./uimage.js";

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Kinds a part may have, by its role and the board's packing. */
function expectedKinds(image: NonNullable<Board["image"]>, appendDtb: boolean): string[][] {
  const kernel = image.kernelCompression === "none" ? [appendDtb ? "zImage+dtb" : "zImage"] : [image.kernelCompression];
  if (image.type === "kernel") return [kernel];
  const ramdisk = image.ramdiskCompression === "none" ? ["cpio", "ext2"] : [image.ramdiskCompression];
  return [kernel, ramdisk, ...(image.dtbPart ? [["dtb"]] : [])];
}

/** The literal start of the board's image name ("OBSAX3LXC " of "OBSAX3LXC {{release}}"). */
export function namePrefix(template: string): string {
  return template.split("{{")[0] ?? "";
}

export interface MatchOptions {
  /**
   * A backup of the board's own firmware may carry the vendor's name and packing
   * (kiln restore): only what makes it boot is compared, unless it has kiln's name.
   */
  vendorImage?: boolean;
}

/** Every way `h` differs from what the board boots; empty when it matches. */
export function imageBoardMismatches(board: Board, h: UImageHeader, opts: MatchOptions = {}): string[] {
  const img = board.image;
  if (!img) return [`board ${board.name} has no image settings to compare with`];
  const out: string[] = [];
  const same = (what: string, found: string, expected: string) => {
    if (found !== expected) out.push(`${what} is ${found}, the board needs ${expected}`);
  };
  same("architecture", h.arch, board.arch);
  same("OS", h.os, "linux");
  same("image type", h.type, img.type);
  same("load address", hex(h.load), hex(img.loadAddress));
  same("entry point", hex(h.entry), hex(img.entryAddress));
  // A backup that carries kiln's own name for this board was made by kiln: judged in full.
  const prefix = namePrefix(img.name).slice(0, 31);
  const kilnNamed = prefix !== "" && h.name.startsWith(prefix);
  if (opts.vendorImage && !kilnNamed) return out;
  same("compression", h.compression, img.kernelCompression);
  const kinds = expectedKinds(img, board.kernel.appendDtb ?? false);
  if (h.parts.length !== kinds.length) {
    out.push(`it has ${h.parts.length} part(s), the board's image has ${kinds.length} (${img.type === "multi" ? ["kernel", "ramdisk", ...(img.dtbPart ? ["device tree"] : [])].join(", ") : "kernel"})`);
  } else {
    const roles = ["kernel", "ramdisk", "device tree"];
    kinds.forEach((allowed, i) => {
      const kind = h.parts[i]?.kind ?? "unknown";
      if (!allowed.includes(kind)) out.push(`part ${i} (${roles[i] ?? "?"}) is ${kind}, the board needs ${allowed.join(" or ")}`);
    });
  }
  if (!h.name.startsWith(prefix.slice(0, Math.min(prefix.length, h.name.length))) || h.name.length === 0) out.push(`name "${h.name}" does not start with "${prefix}" (board data: "${img.name}")`);
  return out;
}

export type ImageVariant = "board" | "qemu";

/** The board as its QEMU twin image is packed (qemu.image): QEMU's load address, the DTB as a third part. */
export function qemuTwinBoard(board: Board): Board | undefined {
  const q = board.qemu?.image;
  if (!q || !board.image) return undefined;
  return { ...board, image: { ...board.image, loadAddress: q.loadAddress, entryAddress: q.entryAddress, dtbPart: true }, kernel: { ...board.kernel, appendDtb: false } };
}

/**
 * Which of the board's images `h` is: its own, or (a real board also emulated)
 * its QEMU twin. The mismatches are against the board's own image when it is neither.
 */
export function imageVariant(board: Board, h: UImageHeader, opts: MatchOptions = {}): { variant: ImageVariant; mismatches: string[] } {
  const own = imageBoardMismatches(board, h, opts);
  if (own.length === 0) return { variant: "board", mismatches: [] };
  const twin = qemuTwinBoard(board);
  if (twin && imageBoardMismatches(twin, h, opts).length === 0) return { variant: "qemu", mismatches: [] };
  return { variant: "board", mismatches: own };
}
