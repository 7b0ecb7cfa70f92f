/**
 * A board is data: board/<name>/board.yaml, validated here. Every setting is
 * declared once, with its type, default and meaning; `kiln boards --schema`
 * prints this as JSON Schema.
 */
import { z } from "zod";

const hexOrNumber = z
  .union([z.number().int().nonnegative(), z.string().regex(/^0x[0-9a-fA-F]+$/)])
  .transform((v) => (typeof v === "number" ? v : Number.parseInt(v, 16)));

const size = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(?:[KMG]i?B?)?$/i)])
  .transform((v) => (typeof v === "number" ? v : parseSize(v)));

export function parseSize(text: string): number {
  const m = /^(\d+)\s*([KMG])?/i.exec(text);
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = (m[2] ?? "").toUpperCase();
  const mult = unit === "K" ? 1024 : unit === "M" ? 1024 ** 2 : unit === "G" ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

export const KernelSchema = z
  .object({
    source: z
      .object({
        tarball: z.string().describe("default kernel source tarball, unpacked once into the cache"),
        package: z.string().describe("Debian package that provides the tarball"),
      })
      .describe("where the kernel comes from when --kernel-src is not given"),
    defconfig: z
      .array(z.string())
      .min(1)
      .describe(
        "defconfig candidates in order; the first that exists in the tree is used (arch/<arch>/configs/<name>, or a make target such as tinyconfig)",
      ),
    fragments: z.array(z.string()).default([]).describe("fragments from kconfig/ merged on top, in order"),
    targets: z.array(z.string()).default(["zImage", "modules", "dtbs"]).describe("make targets the board needs"),
    dtb: z.string().optional().describe("device tree blob built from the tree, e.g. armada-xp-openblocks-ax3-4.dtb"),
    appendDtb: z
      .boolean()
      .default(false)
      .describe("append the DTB to the zImage (boot loaders that pass ATAGS: needs ARM_APPENDED_DTB)"),
  })
  .strict();

export const ImageSchema = z
  .object({
    output: z.string().describe("file name of the uImage"),
    name: z.string().describe("uImage name (handlebars: {{release}}, {{board}})"),
    type: z.enum(["multi", "kernel"]).default("multi"),
    kernelCompression: z.enum(["gzip", "none"]).describe("compression of the kernel part (mkimage -C)"),
    ramdiskCompression: z.enum(["lzma", "gzip", "xz", "none"]).describe("compression of the ramdisk part"),
    loadAddress: hexOrNumber.describe("load address (mkimage -a)"),
    entryAddress: hexOrNumber.describe("entry point (mkimage -e)"),
    dtbPart: z.boolean().default(false).describe("add the DTB as a third part (U-Boot without ATAGS, e.g. qemu_arm)"),
    dtbFromQemu: z
      .boolean()
      .default(false)
      .describe("take the DTB from QEMU's own machine model (dumpdtb with the board's qemu settings) instead of the kernel tree"),
  })
  .strict();

export const FlashSchema = z
  .object({
    method: z.enum(["flashcfg"]).describe("how the image is written on the board"),
    partition: z.string().describe("name of the MTD partition that takes the kernel image"),
    maxImageSize: size
      .optional()
      .describe("size of that partition in bytes; leave out when unknown (probe the board to learn it)"),
  })
  .strict();

export const QemuSchema = z
  .object({
    machine: z.string().describe("qemu-system-<arch> -M value, e.g. virt,highmem=off"),
    memory: z.string().describe("-m value; also the memory node of the DTB dumped from QEMU"),
    cpus: z.number().int().positive().default(1),
    uboot: z.string().describe("U-Boot binary put at the start of the first flash bank"),
    ubootPackage: z.string().describe("Debian package that provides it"),
    imageAddress: hexOrNumber.describe("address of the second flash bank, where the uImage lives"),
    bootargs: z.string().describe("kernel command line U-Boot passes (handlebars: {{console}})"),
  })
  .strict();

export const BoardRootfsSchema = z
  .object({
    hostname: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).describe("/etc/hostname of the appliance"),
    console: z
      .object({
        tty: z.string().regex(/^tty[A-Za-z0-9]+$/).describe("the board's serial console device, e.g. ttyS0 or ttyAMA0"),
        baud: z.number().int().positive().default(115200),
      })
      .strict()
      .describe("where /init runs the console shell"),
    interface: z.string().default("eth0").describe("network interface bridged into br0 (or the macvlan parent)"),
    modules: z
      .array(z.string())
      .default([])
      .describe("kernel modules the appliance loads at boot (copied with their dependencies; built-in ones are skipped)"),
    cgroup: z
      .enum(["auto", "v1", "v2"])
      .default("auto")
      .describe("cgroup layout: auto = cgroup2 on kernels >= 4.5, the v1 /cgroup mount of seed 004 on older ones"),
    memory: size.optional().describe("RAM of the board: the kernel unpacks the initramfs into a tmpfs of half of it"),
  })
  .strict();

export const BoardSchema = z
  .object({
    description: z.string(),
    arch: z.enum(["arm"]).describe("kernel ARCH"),
    crossCompile: z.string().describe("toolchain prefix, e.g. arm-linux-gnueabihf-"),
    toolchainPackage: z.string().describe("Debian package that provides the cross compiler"),
    identity: z
      .object({
        model: z.string().optional().describe("/proc/device-tree/model on the board"),
        compatible: z.string().optional(),
        cpuinfoHardware: z.string().optional().describe("/proc/cpuinfo Hardware line (kernels without device tree)"),
      })
      .strict()
      .default({}),
    kernel: KernelSchema,
    image: ImageSchema.optional(),
    flash: FlashSchema.optional(),
    rootfs: BoardRootfsSchema.optional().describe("settings of the root filesystem (kiln rootfs)"),
    qemu: QemuSchema.optional().describe("the board is emulated: how to run it in QEMU"),
  })
  .strict();

export type BoardData = z.infer<typeof BoardSchema>;

export interface Board extends BoardData {
  name: string;
  dir: string;
  /** board/<name>/kernel.config when present: the board's own fragment, merged last. */
  fragmentFile: string | undefined;
}
