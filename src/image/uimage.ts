/**
 * Legacy U-Boot images ("uImage"), read the way U-Boot's include/image.h and
 * boot/image.c read them, so that kiln can check what it built (or what a
 * vendor shipped) without trusting mkimage's own exit code: `mkimage -l`
 * silently falls back to other formats when a legacy header is damaged.
 */
import { crc32, gunzipSync } from "node:zlib";

export const UIMAGE_MAGIC = 0x27051956;
export const UIMAGE_HEADER_SIZE = 64;
const NAME_LEN = 32;
const FDT_MAGIC = 0xd00dfeed;
const ZIMAGE_MAGIC = 0x016f2818;

export interface UImagePart {
  index: number;
  /** Absolute offset in the file. */
  offset: number;
  size: number;
  /** Sniffed: "gzip" | "lzma" | "xz" | "zImage" | "zImage+dtb" | "dtb" | "cpio" | "ext2" | "unknown". */
  kind?: string;
}

export interface UImageHeader {
  magic: number;
  headerCrc: number;
  headerCrcOk: boolean;
  time: Date;
  dataSize: number;
  load: number;
  entry: number;
  dataCrc: number;
  /** undefined when the file is truncated and the CRC cannot be computed. */
  dataCrcOk: boolean | undefined;
  /** mkimage's short names (-O/-A/-T/-C), or `unknown (N)`. */
  os: string;
  arch: string;
  type: string;
  compression: string;
  name: string;
  /**
   * Multi-file and script images: one entry per listed part. Any other type:
   * one part covering the whole data, so callers can always extract part 0.
   */
  parts: UImagePart[];
  fileSize: number;
  truncated: boolean;
}

export class UImageError extends Error {
  /** What the bytes look like instead (a sniffKind result), when known. */
  readonly kind: string | undefined;
  constructor(message: string, kind?: string) {
    super(message);
    this.name = "UImageError";
    this.kind = kind;
  }
}

type Entry = readonly [id: number, short: string, long: string];

// Ids, short and long names as in U-Boot's boot/image.c tables (host-tool
// build), so Image Type lines match `mkimage -l` word for word.
const ARCHES: readonly Entry[] = [
  [0, "invalid", "Invalid ARCH"],
  [1, "alpha", "Alpha"],
  [2, "arm", "ARM"],
  [3, "x86", "Intel x86"],
  [4, "ia64", "IA64"],
  [5, "mips", "MIPS"],
  [6, "mips64", "MIPS 64 Bit"],
  [7, "powerpc", "PowerPC"],
  [8, "s390", "IBM S390"],
  [9, "sh", "SuperH"],
  [10, "sparc", "SPARC"],
  [11, "sparc64", "SPARC 64 Bit"],
  [12, "m68k", "M68K"],
  [14, "microblaze", "MicroBlaze"],
  [15, "nios2", "NIOS II"],
  [16, "blackfin", "Blackfin"],
  [17, "avr32", "AVR32"],
  [19, "sandbox", "Sandbox"],
  [20, "nds32", "NDS32"],
  [21, "or1k", "OpenRISC 1000"],
  [22, "arm64", "AArch64"],
  [23, "arc", "ARC"],
  [24, "x86_64", "AMD x86_64"],
  [25, "xtensa", "Xtensa"],
  [26, "riscv", "RISC-V"],
];

const OSES: readonly Entry[] = [
  [0, "invalid", "Invalid OS"],
  [1, "openbsd", "OpenBSD"],
  [2, "netbsd", "NetBSD"],
  [3, "freebsd", "FreeBSD"],
  [4, "4_4bsd", "4_4BSD"],
  [5, "linux", "Linux"],
  [6, "svr4", "SVR4"],
  [7, "esix", "Esix"],
  [8, "solaris", "Solaris"],
  [9, "irix", "Irix"],
  [10, "sco", "SCO"],
  [11, "dell", "Dell"],
  [12, "ncr", "NCR"],
  [14, "vxworks", "VxWorks"],
  [15, "psos", "pSOS"],
  [16, "qnx", "QNX"],
  [17, "u-boot", "U-Boot"],
  [18, "rtems", "RTEMS"],
  [21, "integrity", "INTEGRITY"],
  [22, "ose", "Enea OSE"],
  [23, "plan9", "Plan 9"],
  [24, "openrtos", "OpenRTOS"],
  [25, "arm-trusted-firmware", "ARM Trusted Firmware"],
  [26, "tee", "Trusted Execution Environment"],
  [27, "opensbi", "RISC-V OpenSBI"],
  [28, "efi", "EFI Firmware"],
];

const TYPES: readonly Entry[] = [
  [0, "invalid", "Invalid Image"],
  [1, "standalone", "Standalone Program"],
  [2, "kernel", "Kernel Image"],
  [3, "ramdisk", "RAMDisk Image"],
  [4, "multi", "Multi-File Image"],
  [5, "firmware", "Firmware"],
  [6, "script", "Script"],
  [7, "filesystem", "Filesystem Image"],
  [8, "flat_dt", "Flat Device Tree"],
  [9, "kwbimage", "Kirkwood Boot Image"],
  [10, "imximage", "Freescale i.MX Boot Image"],
  [11, "ublimage", "Davinci UBL image"],
  [12, "omapimage", "TI OMAP SPL With GP CH"],
  [13, "aisimage", "Davinci AIS image"],
  [14, "kernel_noload", "Kernel Image (no loading done)"],
  [15, "pblimage", "Freescale PBL Boot Image"],
  [16, "mxsimage", "Freescale MXS Boot Image"],
  [17, "gpimage", "TI Keystone SPL Image"],
  [18, "atmelimage", "ATMEL ROM-Boot Image"],
  [19, "socfpgaimage", "Altera SoCFPGA CV/AV preloader"],
  [20, "x86_setup", "x86 setup.bin"],
  [21, "lpc32xximage", "LPC32XX Boot Image"],
  [23, "rkimage", "Rockchip Boot Image"],
  [24, "rksd", "Rockchip SD Boot Image"],
  [25, "rkspi", "Rockchip SPI Boot Image"],
  [26, "zynqimage", "Xilinx Zynq Boot Image"],
  [27, "zynqmpimage", "Xilinx ZynqMP Boot Image"],
  [28, "zynqmpbif", "Xilinx ZynqMP Boot Image (bif)"],
  [29, "fpga", "FPGA Image"],
  [30, "vybridimage", "Vybrid Boot Image"],
  [31, "tee", "Trusted Execution Environment Image"],
  [32, "firmware_ivt", "Firmware with HABv4 IVT"],
  [33, "pmmc", "TI Power Management Micro-Controller Firmware"],
  [34, "stm32image", "STMicroelectronics STM32 Image"],
  [35, "socfpgaimage_v1", "Altera SoCFPGA A10 preloader"],
  [36, "mtk_image", "MediaTek BootROM loadable Image"],
  [37, "imx8mimage", "NXP i.MX8M Boot Image"],
  [38, "imx8image", "NXP i.MX8 Boot Image"],
  [39, "copro", "Coprocessor Image"],
  [40, "sunxi_egon", "Allwinner eGON Boot Image"],
];

const COMPRESSIONS: readonly Entry[] = [
  [0, "none", "uncompressed"],
  [1, "gzip", "gzip compressed"],
  [2, "bzip2", "bzip2 compressed"],
  [3, "lzma", "lzma compressed"],
  [4, "lzo", "lzo compressed"],
  [5, "lz4", "lz4 compressed"],
  [6, "zstd", "zstd compressed"],
];

// What mkimage prints for an id missing from its table.
const UNKNOWN_LONG = {
  arch: "Unknown Architecture",
  os: "Unknown OS",
  type: "Unknown Image",
  comp: "Unknown Compression",
} as const;

function shortName(table: readonly Entry[], id: number): string {
  return table.find((e) => e[0] === id)?.[1] ?? `unknown (${id})`;
}

function longName(table: readonly Entry[], short: string, unknown: string): string {
  return table.find((e) => e[1] === short)?.[2] ?? unknown;
}

/** Types whose data begins with U-Boot's list of part sizes (image_print_contents treats both alike). */
function hasPartList(type: string): boolean {
  return type === "multi" || type === "script";
}

const KIND_DESCRIPTIONS: Record<string, string> = {
  gzip: "gzip-compressed data",
  xz: "xz-compressed data",
  lzma: "lzma-compressed data",
  zImage: "an ARM zImage without a U-Boot header",
  "zImage+dtb": "an ARM zImage with an appended device tree, without a U-Boot header",
  dtb: "a flattened device tree (a .dtb, or a FIT image, which kiln does not inspect)",
  cpio: "a cpio archive (an uncompressed initramfs)",
  ext2: "an ext2/3/4 filesystem image",
  unknown: "unrecognised data",
};

/** A phrase for messages: "gzip-compressed data", "an ARM zImage ...". */
export function describeKind(kind: string): string {
  return KIND_DESCRIPTIONS[kind] ?? kind;
}

function startsWith(bytes: Buffer, magic: readonly number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

/** Best guess at what a blob is, from magic numbers only. */
export function sniffKind(bytes: Buffer): string {
  if (startsWith(bytes, [0x1f, 0x8b])) return "gzip";
  if (startsWith(bytes, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return "xz";
  // The .lzma (LZMA-alone) header has no magic; 0x5d is the lc/lp/pb byte every
  // encoder writes by default, followed by a little-endian dictionary size
  // whose low two bytes are 0 for the usual power-of-two dictionaries.
  if (startsWith(bytes, [0x5d, 0x00, 0x00])) return "lzma";
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === FDT_MAGIC) return "dtb";
  const ascii6 = bytes.subarray(0, 6).toString("latin1");
  if (ascii6 === "070701" || ascii6 === "070702" || ascii6 === "070707") return "cpio";
  if (bytes.length >= 0x30 && bytes.readUInt32LE(0x24) === ZIMAGE_MAGIC) {
    const size = bytes.readUInt32LE(0x2c) - bytes.readUInt32LE(0x28);
    // CONFIG_ARM_APPENDED_DTB looks for the DTB exactly at the zImage's end.
    if (size >= 0x30 && bytes.length >= size + 4 && bytes.readUInt32BE(size) === FDT_MAGIC) return "zImage+dtb";
    return "zImage";
  }
  if (bytes.length >= 1082 && bytes.readUInt16LE(1080) === 0xef53) return "ext2";
  return "unknown";
}

function hexBytes(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

export function parseUImage(buf: Buffer): UImageHeader {
  if (buf.length === 0) throw new UImageError("not a U-Boot image: the file is empty");
  const magic = buf.length >= 4 ? buf.readUInt32BE(0) : undefined;
  if (magic !== UIMAGE_MAGIC) {
    const kind = sniffKind(buf);
    const first = hexBytes(buf.subarray(0, 8));
    if (magic === 0x56190527) {
      throw new UImageError(
        `not a U-Boot image: the magic number is byte-swapped (${first}); the header was written little-endian`,
        kind,
      );
    }
    if (buf.length < 4) throw new UImageError(`not a U-Boot image: only ${buf.length} byte(s) (${first})`, kind);
    throw new UImageError(
      `not a U-Boot legacy image: starts with ${first}, not the magic 27 05 19 56; it looks like ${describeKind(kind)}`,
      kind,
    );
  }
  if (buf.length < UIMAGE_HEADER_SIZE) {
    throw new UImageError(
      `U-Boot image too short: ${buf.length} bytes, but the header alone is ${UIMAGE_HEADER_SIZE}; the file is cut off`,
    );
  }

  const header = Buffer.from(buf.subarray(0, UIMAGE_HEADER_SIZE));
  const headerCrc = header.readUInt32BE(4);
  header.writeUInt32BE(0, 4);
  const dataSize = buf.readUInt32BE(12);
  const dataCrc = buf.readUInt32BE(24);
  const dataEnd = UIMAGE_HEADER_SIZE + dataSize;
  const truncated = buf.length < dataEnd;
  const nameBytes = buf.subarray(32, 32 + NAME_LEN);
  const nul = nameBytes.indexOf(0);
  const type = shortName(TYPES, buf[30] ?? 0);

  const h: UImageHeader = {
    magic,
    headerCrc,
    headerCrcOk: crc32(header) === headerCrc,
    time: new Date(buf.readUInt32BE(8) * 1000),
    dataSize,
    load: buf.readUInt32BE(16),
    entry: buf.readUInt32BE(20),
    dataCrc,
    dataCrcOk: truncated ? undefined : crc32(buf.subarray(UIMAGE_HEADER_SIZE, dataEnd)) === dataCrc,
    os: shortName(OSES, buf[28] ?? 0),
    arch: shortName(ARCHES, buf[29] ?? 0),
    type,
    compression: shortName(COMPRESSIONS, buf[31] ?? 0),
    name: (nul < 0 ? nameBytes : nameBytes.subarray(0, nul)).toString("utf8"),
    parts: [],
    fileSize: buf.length,
    truncated,
  };

  if (hasPartList(type)) {
    // Read only what both the header and the file vouch for, so a corrupt
    // list cannot walk off into trailing flash padding.
    const listEnd = Math.min(dataEnd, buf.length);
    const sizes: number[] = [];
    let pos = UIMAGE_HEADER_SIZE;
    while (pos + 4 <= listEnd) {
      const size = buf.readUInt32BE(pos);
      pos += 4;
      if (size === 0) break;
      sizes.push(size);
    }
    // Same arithmetic as image_multi_getimg(): the parts start after the
    // terminating 0, each rounded up to 4 bytes.
    let offset = UIMAGE_HEADER_SIZE + 4 * (sizes.length + 1);
    h.parts = sizes.map((size, index) => {
      const part: UImagePart = { index, offset, size };
      offset += (size + 3) & ~3;
      return part;
    });
  } else {
    h.parts = [{ index: 0, offset: UIMAGE_HEADER_SIZE, size: dataSize }];
  }
  for (const part of h.parts) {
    if (part.offset < buf.length) part.kind = sniffKind(buf.subarray(part.offset, part.offset + part.size));
  }
  return h;
}

const hex8 = (n: number): string => n.toString(16).padStart(8, "0");

export interface Packing {
  /** What U-Boot hands the CPU after decompressing part 0: "zImage+dtb", "zImage", ... */
  kernel: string;
  /** Where the kernel finds its device tree. */
  dtb: "appended" | "part" | "none";
  /** In words, naming the known packings. */
  text: string;
}

/**
 * How the kernel and its device tree travel. The two packings of AX3 images a
 * user meets: the seed's gzip of zImage+DTB (-C gzip) and Plat'Home's later
 * zImage.dtb left uncompressed (-C none); and a DTB as the third part, for a
 * U-Boot that passes it (qemu_arm). Part 0 is decompressed to see whether a DTB
 * is appended: the header cannot tell.
 */
export function describePacking(buf: Buffer, h: UImageHeader): Packing | undefined {
  const part = h.parts[0];
  if (h.os !== "linux" || part === undefined || !["kernel", "kernel_noload", "multi"].includes(h.type)) return undefined;
  const bytes = buf.subarray(part.offset, part.offset + part.size);
  let kernel = part.kind ?? "missing";
  if (h.compression === "gzip" && kernel === "gzip") {
    try {
      kernel = sniffKind(gunzipSync(bytes));
    } catch {
      kernel = "gzip data that does not decompress";
    }
  }
  const dtb = kernel === "zImage+dtb" ? "appended" : h.type === "multi" && h.parts[2]?.kind === "dtb" ? "part" : "none";
  const how = h.compression === "none" ? "uncompressed" : `${h.compression}-compressed`;
  const text =
    kernel === "zImage+dtb" && h.compression === "gzip"
      ? "gzip-compressed zImage with the DTB appended (-C gzip: the seed's packing)"
      : kernel === "zImage+dtb" && h.compression === "none"
        ? "uncompressed zImage with the DTB appended (zImage.dtb, -C none: Plat'Home's later packing)"
        : kernel === "zImage" && dtb === "part"
          ? `${how} zImage, the DTB as the third part (for a U-Boot that passes it, e.g. qemu_arm)`
          : kernel === "zImage"
            ? `${how} zImage without a device tree: the boot loader must pass one`
            : `${how} ${describeKind(kernel)}`;
  return { kernel, dtb, text };
}

/** What a header's compression field requires of the bytes U-Boot decompresses. */
function compressionMismatch(compression: string, kind: string | undefined): string | undefined {
  if (kind === undefined || kind === "unknown") return undefined;
  const compressed = kind === "gzip" || kind === "lzma" || kind === "xz";
  if (compression === "none") {
    return compressed ? `it is ${kind} data but the header says uncompressed, so U-Boot would jump into compressed bytes` : undefined;
  }
  if (compression === kind) return undefined;
  if (compression === "gzip" || compression === "lzma" || compressed || kind === "zImage" || kind === "zImage+dtb" || kind === "dtb") {
    return `it is ${kind === "xz" ? "xz data (which U-Boot cannot decompress)" : kind} but the header says ${compression}`;
  }
  return undefined;
}

export function verifyUImage(h: UImageHeader): string[] {
  const problems: string[] = [];
  if (!h.headerCrcOk) problems.push(`bad header CRC: the header says 0x${hex8(h.headerCrc)} but its bytes do not match it`);
  if (h.truncated) {
    problems.push(
      `truncated: the header promises ${h.dataSize} data bytes (file of ${UIMAGE_HEADER_SIZE + h.dataSize}), but the file has ${h.fileSize} bytes`,
    );
  } else if (h.dataCrcOk === false) {
    problems.push(`bad data CRC: the header says 0x${hex8(h.dataCrc)} but the ${h.dataSize} data bytes do not match it`);
  }

  const dataEnd = UIMAGE_HEADER_SIZE + h.dataSize;
  // A cut-off file may also have lost the end of the size list; only check it whole.
  if (hasPartList(h.type) && !h.truncated) {
    const last = h.parts.at(-1);
    if (last === undefined) {
      problems.push(`${h.type} image lists no parts: the data starts with a 0 size (or is shorter than one)`);
    } else {
      for (const p of h.parts) {
        if (p.offset + p.size > dataEnd) {
          problems.push(
            `part ${p.index} (${p.size} bytes at 0x${hex8(p.offset)}) runs past the end of the data at 0x${hex8(dataEnd)}: the size list does not match the data size`,
          );
          break;
        }
      }
      const slack = dataEnd - (last.offset + last.size);
      // mkimage does not pad the last part, but a tool that does is harmless.
      if (slack > 3) {
        problems.push(`${slack} data bytes after the last part (${h.parts.length} listed) are in no part: the size list does not match the data size`);
      }
    }
  }

  if (h.os === "linux" && (h.type === "kernel" || h.type === "kernel_noload" || h.type === "multi")) {
    // bootm decompresses only the kernel (part 0) by the header's compression field.
    const kernel = h.parts[0];
    const why = compressionMismatch(h.compression, kernel?.kind);
    if (kernel !== undefined && why !== undefined) problems.push(`${h.type === "multi" ? "part 0 (the kernel)" : "kernel"}: ${why}`);
    // bootm takes the third part of a multi image as the device tree.
    const fdt = h.parts[2];
    if (h.type === "multi" && fdt?.kind !== undefined && fdt.kind !== "dtb" && fdt.kind !== "unknown") {
      problems.push(`part 2 is ${fdt.kind}, but U-Boot's bootm uses the third part of a multi image as the device tree`);
    }
  }
  return problems;
}

/** C's printf("%.2f", num / den) for a power-of-two den: exact, ties to even. */
function fixed2(num: number, den: number): string {
  const scaled = num * 100;
  let n = Math.floor(scaled / den);
  const rem = scaled - n * den;
  if (rem * 2 > den || (rem * 2 === den && n % 2 === 1)) n += 1;
  return `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0")}`;
}

/** genimg_print_size() as built into the host tools. */
export function formatSize(size: number): string {
  return `${size} Bytes = ${fixed2(size, 1024)} KiB = ${fixed2(size, 1024 * 1024)} MiB`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** ctime(3) without the newline; local time, as mkimage prints it. */
export function formatCtime(d: Date): string {
  const p2 = (n: number): string => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/** mkimage's "Image Type:" text, e.g. "ARM Linux Multi-File Image (gzip compressed)". */
export function imageTypeText(h: UImageHeader): string {
  return [
    longName(ARCHES, h.arch, UNKNOWN_LONG.arch),
    longName(OSES, h.os, UNKNOWN_LONG.os),
    longName(TYPES, h.type, UNKNOWN_LONG.type),
    `(${longName(COMPRESSIONS, h.compression, UNKNOWN_LONG.comp)})`,
  ].join(" ");
}

export function formatUImage(h: UImageHeader): string {
  const lines = [
    `Image Name:   ${h.name}`,
    `Created:      ${formatCtime(h.time)}`,
    `Image Type:   ${imageTypeText(h)}`,
    `Data Size:    ${formatSize(h.dataSize)}`,
    `Load Address: ${hex8(h.load)}`,
    `Entry Point:  ${hex8(h.entry)}`,
  ];
  const listed = hasPartList(h.type);
  if (listed) {
    lines.push("Contents:");
    for (const p of h.parts) {
      lines.push(`   Image ${p.index}: ${formatSize(p.size)}`);
      // mkimage prints where it mapped the part in its own memory; the file offset is what helps.
      if (h.type === "script" && p.index > 0) lines.push(`    Offset = 0x${hex8(p.offset)}`);
    }
  }
  // Everything below is kiln's own; mkimage -l stops above.
  lines.push(`Header CRC:   0x${hex8(h.headerCrc)} ${h.headerCrcOk ? "(ok)" : "(BAD)"}`);
  const dataVerdict = h.dataCrcOk === undefined ? "(not checked: file truncated)" : h.dataCrcOk ? "(ok)" : "(BAD)";
  lines.push(`Data CRC:     0x${hex8(h.dataCrc)} ${dataVerdict}`);
  const expected = UIMAGE_HEADER_SIZE + h.dataSize;
  const sizeNote = h.fileSize === expected ? "" : h.fileSize < expected ? ` (${expected - h.fileSize} missing)` : ` (${h.fileSize - expected} trailing)`;
  lines.push(`File Size:    ${h.fileSize} Bytes = header ${UIMAGE_HEADER_SIZE} + data ${h.dataSize}${sizeNote}`);
  if (listed) {
    lines.push("Parts:");
    for (const p of h.parts) lines.push(`   Image ${p.index}: ${p.kind ?? "missing"} at 0x${hex8(p.offset)}`);
  } else {
    lines.push(`Data Kind:    ${h.parts[0]?.kind ?? "missing"}`);
  }
  const problems = verifyUImage(h);
  if (problems.length === 0) lines.push("Problems:     none");
  else {
    lines.push("Problems:");
    for (const p of problems) lines.push(`   ${p}`);
  }
  return lines.join("\n");
}

const LISTING_LABELS = ["Image Name", "Created", "Image Type", "Data Size", "Load Address", "Entry Point"] as const;

/**
 * The fields of a `mkimage -l` listing (or of formatUImage's first lines),
 * keyed "Image Type", "Data Size", ..., "Image 0", "Image 1", so the two can be
 * compared field by field.
 */
export function parseMkimageListing(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const label = LISTING_LABELS.find((l) => line.startsWith(`${l}:`));
    if (label !== undefined) {
      if (!fields.has(label)) fields.set(label, line.slice(label.length + 1).replace(/^ +/, "").trimEnd());
      continue;
    }
    const part = /^ {3}Image (\d+): (\d+ Bytes = .*)$/.exec(line);
    if (part?.[1] !== undefined && part[2] !== undefined && !fields.has(`Image ${part[1]}`)) {
      fields.set(`Image ${part[1]}`, part[2].trimEnd());
    }
  }
  return fields;
}
