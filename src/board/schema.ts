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
    kernelCompression: z
      .enum(["gzip", "none"])
      .describe(
        "compression of the kernel part (mkimage -C). gzip: the zImage gzipped, as seed 004 packs it; none: the zImage as it is, with kernel.appendDtb the zImage.dtb of Plat'Home's later images",
      ),
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

/** Offsets may be 0 and are usually written in hex; sizes may be hex too. */
const offset = z.union([hexOrNumber, size]);
const partitionSize = z.union([size, z.string().regex(/^0x0*[1-9a-fA-F][0-9a-fA-F]*$/).transform((v) => Number.parseInt(v, 16))]);

export const FlashPartitionSchema = z
  .object({
    name: z.string().min(1).describe("the partition's name as /proc/mtd shows it (its label in the DTB)"),
    offset: offset.optional().describe("where it starts in the flash chip (0x4000000, 64MiB); leave out when unknown"),
    size: partitionSize.optional().describe("its size (64MiB, 0x4000000); leave out when unknown: `kiln probe` reads it from /proc/mtd"),
    readOnly: z.boolean().default(false).describe("Linux must not write it (U-Boot and its environment)"),
  })
  .strict();

const partitionList = z.array(FlashPartitionSchema).min(1);

export const FlashLayoutSchema = z
  .object({
    description: z.string().optional(),
    partition: z.string().optional().describe("the partition that takes the kernel image in this layout (default: flash.partition)"),
    partitions: partitionList.describe("this layout's partitions, in flash order"),
  })
  .strict();

export type FlashPartition = z.infer<typeof FlashPartitionSchema>;

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * One layout's partitions must be usable as a DTB partitions node and as the
 * names flashcfg looks for: unique names, the kernel-image partition among
 * them, in flash order, no overlaps, inside the chip.
 */
function checkLayout(
  ctx: z.RefinementCtx,
  at: (string | number)[],
  image: string,
  partitions: readonly FlashPartition[],
  limits: { chip: number | undefined; maxImageSize: number | undefined },
): void {
  const issue = (path: (string | number)[], message: string): void => ctx.addIssue({ code: "custom", path: [...at, ...path], message });
  const names = partitions.map((p) => p.name);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) issue(["partitions", i, "name"], `"${n}" is named twice: flashcfg finds a partition by its name, so names must be unique`);
  });
  const img = partitions.find((p) => p.name === image);
  if (!img) issue(["partition"], `"${image}" is not among the partitions (${names.map((n) => `"${n}"`).join(", ")}): name the one that takes the kernel image, or add it to partitions`);
  if (img?.size !== undefined && limits.maxImageSize !== undefined && limits.maxImageSize > img.size) {
    issue(["partition"], `maxImageSize (${limits.maxImageSize}) is larger than the "${image}" partition (${img.size}): lower it or leave it out`);
  }
  partitions.forEach((p, i) => {
    if (p.offset === undefined) return;
    const end = p.offset + (p.size ?? 0);
    if (limits.chip !== undefined && end > limits.chip) {
      issue(["partitions", i], `"${p.name}" ends at ${hex(end)}, past the end of the ${hex(limits.chip)}-byte flash (flash.size): fix its offset or size`);
    }
    for (let j = 0; j < i; j++) {
      const q = partitions[j] as FlashPartition;
      if (q.offset === undefined) continue;
      if (q.offset >= p.offset) {
        issue(["partitions", i, "offset"], `"${p.name}" at ${hex(p.offset)} is listed after "${q.name}" at ${hex(q.offset)}: list partitions in flash order (the order /proc/mtd shows)`);
      } else if (q.size !== undefined && q.offset + q.size > p.offset) {
        issue(["partitions", i, "offset"], `"${p.name}" at ${hex(p.offset)} overlaps "${q.name}" (${hex(q.offset)}-${hex(q.offset + q.size)}): move it or shrink "${q.name}"`);
      }
    }
  });
}

export const FlashSchema = z
  .object({
    method: z.enum(["flashcfg"]).describe("how the image is written on the board"),
    partition: z.string().describe("name of the MTD partition that takes the kernel image"),
    maxImageSize: size
      .optional()
      .describe("the most the image may take; default: the size of that partition when partitions gives it. May be smaller than the partition, never larger"),
    size: size.optional().describe("size of the whole flash chip (both banks of qemu-virt)"),
    node: z
      .string()
      .regex(/^\//)
      .optional()
      .describe('device-tree path of the flash node that gets the partitions; default: the one node compatible "cfi-flash"'),
    partitions: partitionList
      .optional()
      .describe("the flash partitions in flash order, named as the board's firmware names them; offsets and sizes where known"),
    trialDeadline: z
      .number()
      .int()
      .min(30)
      .max(2000)
      .optional()
      .describe("seconds a trial (kiln flash tries the image from RAM first) has to come up and be confirmed before the watchdog resets the board; default 120. --try-deadline overrides it"),
    trialCmdline: z
      .array(z.string().regex(/^[A-Za-z0-9_.-]+=[A-Za-z0-9_.,{}-]*$/, "a kernel parameter name=value without spaces or quotes"))
      .optional()
      .describe(
        "kernel parameters added to a trial's command line (kiln flash tries the image from RAM first); {{deadline}} becomes the trial's deadline in seconds. For a watchdog driver that reprograms a still-running watchdog to its own default timeout when it probes, before /init can arm it again",
      ),
    layouts: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), FlashLayoutSchema)
      .optional()
      .describe("named alternative layouts of the same flash, chosen with `kiln build --flash-layout NAME`: only the image stage (its DTB and size limit) differs"),
  })
  .strict()
  .superRefine((f, ctx) => {
    const limits = { chip: f.size, maxImageSize: f.maxImageSize };
    if (f.partitions) checkLayout(ctx, [], f.partition, f.partitions, limits);
    for (const [name, l] of Object.entries(f.layouts ?? {})) checkLayout(ctx, ["layouts", name], l.partition ?? f.partition, l.partitions, limits);
  })
  // Readers of the limit (image, rootfs and flash stages) need not know where it came from.
  .transform((f) => ({ ...f, maxImageSize: f.maxImageSize ?? f.partitions?.find((p) => p.name === f.partition)?.size }));

export const QemuSchema = z
  .object({
    machine: z.string().describe("qemu-system-<arch> -M value, e.g. virt,highmem=off"),
    memory: z.string().describe("-m value; also the memory node of the DTB dumped from QEMU"),
    cpus: z.number().int().positive().default(1),
    uboot: z.string().describe("U-Boot binary put at the start of the first flash bank"),
    ubootPackage: z.string().describe("Debian package that provides it"),
    imageAddress: hexOrNumber.describe("address of the second flash bank, where the uImage lives"),
    bootargs: z.string().describe("kernel command line U-Boot passes (handlebars: {{console}})"),
    bootLimit: hexOrNumber
      .optional()
      .describe(
        "highest address U-Boot may copy the ramdisk and DTB to (initrd_high, fdt_high): below the end of the kernel's lowmem when the RAM is larger; default: anywhere in RAM",
      ),
    identity: z
      .object({ model: z.string().describe("/proc/device-tree/model of QEMU's machine (linux,dummy-virt for -M virt)") })
      .strict()
      .optional()
      .describe("what the board's own kernel reports under QEMU, when the board is a real one also emulated"),
    layout: z.string().optional().describe("the flash layout (flash.layouts) the emulated flash uses; default: the board's default layout"),
    image: z
      .object({
        output: z.string().describe("file name of the QEMU image, beside the board's own"),
        loadAddress: hexOrNumber.describe("load address in QEMU's RAM (mkimage -a)"),
        entryAddress: hexOrNumber.describe("entry point (mkimage -e)"),
      })
      .strict()
      .optional()
      .describe(
        "a real board also emulated: the image stage packs the same zImage and ramdisk a second time for QEMU's U-Boot (no ATAGS: QEMU's device tree as a third part)",
      ),
    disk: z
      .object({
        size: size.default(1024 ** 3).describe("size of the data disk `kiln qemu --data-disk` makes once per instance"),
      })
      .strict()
      .default({ size: 1024 ** 3 })
      .describe("the instance's data disk (virtio), formatted with rootfs.data.label"),
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
    // Both reach /init and ifupdown files on the board: names only, nothing a shell would read twice.
    interface: z
      .string()
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/, "a network interface name (letters, digits, _ . -; at most 15)")
      .default("eth0")
      .describe("network interface bridged into br0 (or the macvlan parent)"),
    modules: z
      .array(z.string().regex(/^[a-zA-Z0-9_-]+$/, "a kernel module name (letters, digits, _ and -)"))
      .default([])
      .describe("kernel modules the appliance loads at boot (copied with their dependencies; built-in ones are skipped)"),
    cgroup: z
      .enum(["auto", "v1", "v2"])
      .default("auto")
      .describe("cgroup layout: auto = cgroup2 on kernels >= 4.5, the v1 /cgroup mount of seed 004 on older ones"),
    memory: size.optional().describe("RAM of the board: the kernel unpacks the initramfs into a tmpfs of half of it"),
    data: z
      .object({
        label: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,16}$/, "an ext4 label (letters, digits, _ and -; at most 16)")
          .describe("label of the data filesystem (e2label / mkfs.ext4 -L): /init mounts it when a filesystem with this label exists"),
        mount: z.string().regex(/^\/[A-Za-z0-9_./-]+$/).default("/var/lib/lxc").describe("where it is mounted: LXC's container path keeps containers across reboots"),
        wait: z.number().int().min(0).max(60).default(5).describe("seconds /init waits for the disk to appear (SATA and USB disks are probed after /init starts)"),
      })
      .strict()
      .optional()
      .describe("a persistent data filesystem, found by label; containers marked lxc.start.auto = 1 on it start at boot"),
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
  .strict()
  .superRefine((b, ctx) => {
    if (!b.qemu || !b.flash) return;
    if (b.qemu.layout !== undefined && !b.flash.layouts?.[b.qemu.layout]) {
      ctx.addIssue({ code: "custom", path: ["qemu", "layout"], message: `"${b.qemu.layout}" is not one of flash.layouts (${Object.keys(b.flash.layouts ?? {}).join(", ") || "none"})` });
    }
    // -M virt maps the flash at address 0 and U-Boot boots the image at imageAddress: every layout must put the image there.
    const layouts = [["", b.flash.partition, b.flash.partitions] as const, ...Object.entries(b.flash.layouts ?? {}).map(([n, l]) => [n, l.partition ?? b.flash?.partition, l.partitions] as const)];
    for (const [name, image, parts] of layouts) {
      const i = parts?.findIndex((p) => p.name === image) ?? -1;
      const at = parts?.[i]?.offset;
      if (at !== undefined && at !== b.qemu.imageAddress) {
        ctx.addIssue({
          code: "custom",
          path: ["flash", ...(name ? ["layouts", name] : []), "partitions", i, "offset"],
          message: `U-Boot boots the image at qemu.imageAddress ${hex(b.qemu.imageAddress)}, but "${image}" starts at ${hex(at)}: the kernel-image partition must start there`,
        });
      }
    }
  });

export type BoardData = z.infer<typeof BoardSchema>;

export interface Board extends BoardData {
  name: string;
  dir: string;
  /** board/<name>/kernel.config when present: the board's own fragment, merged last. */
  fragmentFile: string | undefined;
}
