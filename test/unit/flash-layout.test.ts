/**
 * The board data's flash partitions, a probed unit's /proc/mtd, and what the
 * image stage makes of them: the size limit and the partitions for the DTB.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { imagePartitionNames, placePartitions, planFlash } from "../../src/board/flash-layout.js";
import { loadBoard } from "../../src/board/load.js";
import type { Board } from "../../src/board/schema.js";
import { InputError } from "../../src/errors.js";
import { parseProcMtd } from "../../src/remote/probe.js";
import { findUnitProfile, type LoadedProfile, profileFile, type UnitProfile } from "../../src/remote/profile.js";
import { repoRoot } from "../support/cli.js";

const MiB = 1024 * 1024;
const AX3_NAMES = [
  "OpenBlocks A series Uboot",
  "OpenBlocks A series Uboot Configuration Data",
  "OpenBlocks A series Diag program Image",
  "OpenBlocks A series Configuration Data",
  "OpenBlocks A series Kernel Image",
  "OpenBlocks A series User Flash",
  "OpenBlocks A series Java Image",
];
// Sizes made up for the tests (the real ones are not public); they fill 128 MiB.
const AX3_SIZES = [MiB, 128 * 1024, 3 * MiB - 128 * 1024, MiB, 16 * MiB, 100 * MiB, 7 * MiB];

/** /proc/mtd as a 3.0 vendor kernel prints it. */
const VENDOR_PROC_MTD = `dev:    size   erasesize  name\n${AX3_NAMES.map((n, i) => `mtd${i}: ${(AX3_SIZES[i] as number).toString(16).padStart(8, "0")} 00020000 "${n}"`).join("\n")}\n`;

function profile(over: Partial<UnitProfile> = {}): UnitProfile {
  return {
    hostKey: "SHA256:unit/one+key",
    host: "192.0.2.10",
    port: 22,
    probedAt: "2026-11-25T00:00:00.000Z",
    model: "PlatHome OpenBlocks AX3-4 board",
    release: "3.0.6",
    mtd: parseProcMtd(VENDOR_PROC_MTD),
    uploadDir: { path: "/tmp", freeBytes: 100 * MiB },
    flashcfg: { kind: "vendor", path: "/usr/sbin/flashcfg" },
    ...over,
  };
}

const unit = (over: Partial<UnitProfile> = {}): LoadedProfile => ({ file: "/state/units/u.json", profile: profile(over) });

let ax3: Board;
let virtBoard: Board;
beforeAll(async () => {
  ax3 = await loadBoard("openblocks-ax3");
  virtBoard = await loadBoard("qemu-virt");
});

async function rejection(p: Promise<unknown>): Promise<InputError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (e instanceof InputError) return e;
  throw new Error(`expected an InputError, got ${String(e)}`);
}

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("no error thrown");
}

describe("/proc/mtd", () => {
  it("parses name, size and erase size of each partition, skipping the header", () => {
    const mtd = parseProcMtd(VENDOR_PROC_MTD);
    expect(mtd.map((m) => m.name)).toEqual(AX3_NAMES);
    expect(mtd[4]).toEqual({ dev: "mtd4", size: 16 * MiB, eraseSize: 0x20000, name: "OpenBlocks A series Kernel Image" });
  });

  it("reads the whole-chip device of a mainline kernel without partitions, and nothing from an empty file", () => {
    expect(parseProcMtd('dev:    size   erasesize  name\nmtd0: 08000000 00040000 "0.flash"\n')).toEqual([{ dev: "mtd0", size: 0x8000000, eraseSize: 0x40000, name: "0.flash" }]);
    expect(parseProcMtd("dev:    size   erasesize  name\n")).toEqual([]);
    expect(parseProcMtd("")).toEqual([]);
  });
});

describe("the size limit and the DTB partitions", () => {
  it("qemu-virt: both from the board data, U-Boot read-only", async () => {
    const plan = planFlash(await loadBoard("qemu-virt"));
    expect(plan).toMatchObject({ layout: "default", imagePartition: "image", limit: 64 * MiB, notes: [] });
    expect(plan?.placed).toEqual([
      { name: "u-boot", offset: 0, size: 64 * MiB, readOnly: true },
      { name: "image", offset: 64 * MiB, size: 64 * MiB, readOnly: false },
    ]);
  });

  it("qemu-virt's ax3-names layout: the AX3's seven names, the kernel image at 0x4000000, its own limit", async () => {
    const plan = planFlash(await loadBoard("qemu-virt"), { layout: "ax3-names" });
    expect(plan?.placed?.map((p) => p.name)).toEqual(AX3_NAMES);
    expect(plan?.placed?.filter((p) => p.readOnly).map((p) => p.name)).toEqual(AX3_NAMES.slice(0, 2));
    expect(plan?.placed?.find((p) => p.name === "OpenBlocks A series Kernel Image")).toMatchObject({ offset: 0x4000000, size: 48 * MiB });
    expect(plan?.limit).toBe(48 * MiB);
    expect(plan?.placed?.reduce((end, p) => (p.offset >= end ? p.offset + p.size : Number.NaN), 0)).toBe(128 * MiB);
  });

  it("AX3 without a profile: says plainly the limit is unknown until the board is probed, and writes no partitions", async () => {
    const plan = planFlash(await loadBoard("openblocks-ax3"));
    expect(plan?.limit).toBeUndefined();
    expect(plan?.placed).toBeUndefined();
    expect(plan?.notes[0]).toMatch(/size of the "OpenBlocks A series Kernel Image" partition is unknown until the board is probed.*kiln probe --host H.*--unit H/);
    expect(plan?.notes[1]).toMatch(/the DTB gets no partitions node/);
  });

  it("AX3 with a profile: the unit's size of the kernel-image partition is the limit, and sizes that fill the chip place the partitions", async () => {
    const plan = planFlash(await loadBoard("openblocks-ax3"), { unit: unit() });
    expect(plan?.limit).toBe(16 * MiB);
    expect(plan?.source).toMatch(/profile of unit 192\.0\.2\.10:22/);
    expect(plan?.notes).toEqual([]);
    expect(plan?.placed?.map((p) => [p.name, p.offset, p.size, p.readOnly])).toEqual(
      AX3_NAMES.map((n, i) => [n, AX3_SIZES.slice(0, i).reduce((a, b) => a + b, 0), AX3_SIZES[i], i < 2]),
    );
  });

  it("sizes that do not fill the chip give the limit but no offsets", async () => {
    const mtd = parseProcMtd(VENDOR_PROC_MTD).slice(0, 7).map((m, i) => (i === 6 ? { ...m, size: MiB } : m));
    const plan = planFlash(await loadBoard("openblocks-ax3"), { unit: unit({ mtd }) });
    expect(plan?.limit).toBe(16 * MiB);
    expect(plan?.placed).toBeUndefined();
    expect(plan?.notes.join("\n")).toMatch(/do not fill the 0x8000000-byte flash/);
  });

  it("places by sizes only from 0 and only when they fill the chip", () => {
    const parts = [
      { name: "a", size: 10, readOnly: true },
      { name: "b", size: 22, readOnly: false },
    ];
    expect(placePartitions(parts, 32)).toEqual([
      { name: "a", offset: 0, size: 10, readOnly: true },
      { name: "b", offset: 10, size: 22, readOnly: false },
    ]);
    expect(placePartitions(parts, 64)).toBeUndefined();
    expect(placePartitions(parts, undefined)).toBeUndefined();
    expect(placePartitions([{ name: "a", readOnly: false }], 32)).toBeUndefined();
  });

  it("every layout's kernel-image partition name, for flashcfg", async () => {
    expect(imagePartitionNames(await loadBoard("qemu-virt"))).toEqual(["image", "OpenBlocks A series Kernel Image"]);
    expect(imagePartitionNames(await loadBoard("openblocks-ax3"))).toEqual(["OpenBlocks A series Kernel Image"]);
  });
});

describe("a unit that does not match the board data", () => {
  it("another model: what was found and what was expected", () => {
    const err = errorOf(() => planFlash(ax3, { unit: unit({ model: "Globalscale Technologies Mirabox" }) }));
    expect(err.message).toMatch(
      /unit 192\.0\.2\.10:22 \(profile \/state\/units\/u\.json\) is not a openblocks-ax3: found "Globalscale Technologies Mirabox", expected "PlatHome OpenBlocks AX3-4 board, or linux,dummy-virt under QEMU"/,
    );
  });

  it("the kernel-image partition missing from /proc/mtd", () => {
    const err = errorOf(() => planFlash(ax3, { unit: unit({ mtd: parseProcMtd('mtd0: 08000000 00040000 "f1000000.nor"\n') }) }));
    expect(err.message).toMatch(/has no "OpenBlocks A series Kernel Image" partition in \/proc\/mtd.*found "f1000000\.nor"/);
    expect(err.hint).toMatch(/does not divide the flash into partitions/);
  });

  it("other partition names: found and expected, and the layout they belong to", async () => {
    const virt = await loadBoard("qemu-virt");
    const uboot = { dev: "mtd0", size: 64 * MiB, eraseSize: 0x40000, name: "u-boot" };
    const image = { dev: "mtd1", size: 64 * MiB, eraseSize: 0x40000, name: "image" };
    const virtUnit = unit({ model: "linux,dummy-virt", mtd: [uboot, image] });
    const renamed = errorOf(() => planFlash(virt, { unit: unit({ model: "linux,dummy-virt", mtd: [{ ...uboot, name: "boot" }, image] }) }));
    expect(renamed.message).toMatch(/do not match the board data \(layout default\): found "boot", "image", expected "u-boot", "image"/);
    expect(renamed.hint).toMatch(/correct flash\.partitions in board\/qemu-virt\/board\.yaml/);
    // A board booted with the default layout, built for the ax3-names one.
    const other = errorOf(() => planFlash(virt, { layout: "ax3-names", unit: virtUnit }));
    expect(other.message).toMatch(/no "OpenBlocks A series Kernel Image" partition/);
    const swapped = errorOf(() => planFlash(ax3, { unit: unit({ mtd: [...parseProcMtd(VENDOR_PROC_MTD)].reverse() }) }));
    expect(swapped.message).toMatch(/found "OpenBlocks A series Java Image", .* expected "OpenBlocks A series Uboot", /);
  });

  it("names of another layout: says which --flash-layout to build with", () => {
    const sizes = [MiB, MiB, 30 * MiB, 32 * MiB, 48 * MiB, 12 * MiB, 4 * MiB];
    const vendorUnit = unit({ model: "linux,dummy-virt", mtd: parseProcMtd(VENDOR_PROC_MTD).map((m, i) => ({ ...m, size: sizes[i] as number })) });
    const err = errorOf(() => planFlash(virtBoard, { unit: vendorUnit }));
    expect(err.message).toMatch(/has no "image" partition in \/proc\/mtd, the partition that takes the kernel image \(layout default\)/);
    expect(err.hint).toBe('they are the partitions of layout "ax3-names": build with --flash-layout ax3-names');
    const back = errorOf(() => planFlash(virtBoard, { layout: "ax3-names", unit: unit({ model: "linux,dummy-virt", mtd: parseProcMtd('mtd0: 04000000 00040000 "u-boot"\nmtd1: 04000000 00040000 "image"') }) }));
    expect(back.hint).toMatch(/layout "default": build with --flash-layout default/);
    expect(planFlash(virtBoard, { layout: "ax3-names", unit: vendorUnit })?.limit).toBe(48 * MiB);
  });

  it("a size the board data gives differently", async () => {
    const virt = await loadBoard("qemu-virt");
    const err = errorOf(() =>
      planFlash(virt, {
        unit: unit({
          model: "linux,dummy-virt",
          mtd: [
            { dev: "mtd0", size: 64 * MiB, eraseSize: 0x40000, name: "u-boot" },
            { dev: "mtd1", size: 32 * MiB, eraseSize: 0x40000, name: "image" },
          ],
        }),
      }),
    );
    expect(err.message).toMatch(/"image" is 0x2000000 bytes on unit .* but 0x4000000 in the board data \(layout default\)/);
  });

  it("an unknown layout name suggests the closest", async () => {
    const err = errorOf(() => planFlash(virtBoard, { layout: "ax3-name" }));
    expect(err.message).toMatch(/no flash layout "ax3-name" \(did you mean "ax3-names"\?\)/);
    expect(err.hint).toMatch(/default, ax3-names/);
  });
});

describe("finding a unit's profile", () => {
  let state: string;
  const saved = process.env.KILN_STATE_DIR;
  beforeEach(() => {
    state = mkdtempSync(join(tmpdir(), "kiln-state-"));
    process.env.KILN_STATE_DIR = state;
    for (const p of [profile(), profile({ hostKey: "SHA256:two", host: "127.0.0.1", port: 2222 }), profile({ hostKey: "SHA256:three", host: "127.0.0.1", port: 2223 })]) {
      mkdirSync(join(state, "units"), { recursive: true });
      writeFileSync(profileFile(p.hostKey), JSON.stringify(p));
    }
    writeFileSync(join(state, "units", "broken.json"), "{");
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.KILN_STATE_DIR;
    else process.env.KILN_STATE_DIR = saved;
  });

  it("by host, host:port, fingerprint with or without SHA256:, or file", async () => {
    expect((await findUnitProfile("192.0.2.10")).profile.hostKey).toBe("SHA256:unit/one+key");
    expect((await findUnitProfile("127.0.0.1:2223")).profile.hostKey).toBe("SHA256:three");
    expect((await findUnitProfile("SHA256:two")).profile.port).toBe(2222);
    expect((await findUnitProfile("unit/one+key")).profile.host).toBe("192.0.2.10");
    const file = profileFile("SHA256:two");
    expect(await findUnitProfile(file)).toEqual({ file, profile: JSON.parse(readFileSync(file, "utf8")) as UnitProfile });
  });

  it("refuses an ambiguous host, an unknown unit and a file that is no profile", async () => {
    await expect(findUnitProfile("127.0.0.1")).rejects.toThrow(/unit "127\.0\.0\.1" names 2 probed boards: 127\.0\.0\.1:2222 \(SHA256:two\), 127\.0\.0\.1:2223/);
    const err = await rejection(findUnitProfile("ax3-07"));
    expect(err.message).toMatch(/no probe profile for unit "ax3-07" in .*units/);
    expect(err.hint).toMatch(/kiln probe --host ax3-07; probed units: 127\.0\.0\.1:2222 .*192\.0\.2\.10:22/);
    await expect(findUnitProfile(join(state, "units", "broken.json"))).rejects.toThrow(/is not a readable probe profile/);
    writeFileSync(join(state, "other.json"), JSON.stringify({ host: "x" }));
    await expect(findUnitProfile(join(state, "other.json"))).rejects.toThrow(/is not a probe profile: hostKey/);
  });
});

describe("board data validation", () => {
  const base = readFileSync(join(repoRoot, "board", "qemu-virt", "board.yaml"), "utf8");
  async function invalid(patch: (yaml: string) => string): Promise<string> {
    const root = mkdtempSync(join(tmpdir(), "kiln-board-"));
    mkdirSync(join(root, "b"));
    const yaml = patch(base);
    expect(yaml).not.toBe(base);
    writeFileSync(join(root, "b", "board.yaml"), yaml);
    return (await rejection(loadBoard("b", root))).message;
  }

  it("the kernel-image partition must be among the partitions", async () => {
    expect(await invalid((y) => y.replace("  partition: image\n", "  partition: kernel\n"))).toMatch(
      /- flash\.partition: "kernel" is not among the partitions \("u-boot", "image"\): name the one that takes the kernel image/,
    );
    expect(await invalid((y) => y.replace("      partition: OpenBlocks A series Kernel Image\n", "      partition: Kernel\n"))).toMatch(/- flash\.layouts\.ax3-names\.partition: "Kernel" is not among the partitions/);
  });

  it("overlaps, order, the chip's end and duplicate names, with where and what to do", async () => {
    expect(await invalid((y) => y.replace("{ name: image, offset: 0x4000000, size: 64MiB }", "{ name: image, offset: 0x4000000, size: 65MiB }"))).toMatch(
      /- flash\.partitions\.1: "image" ends at 0x8100000, past the end of the 0x8000000-byte flash \(flash\.size\)/,
    );
    expect(await invalid((y) => y.replace("offset: 0x2000000, size: 32MiB", "offset: 0x1000000, size: 32MiB"))).toMatch(
      /- flash\.layouts\.ax3-names\.partitions\.3\.offset: "OpenBlocks A series Configuration Data" at 0x1000000 overlaps "OpenBlocks A series Diag program Image" \(0x200000-0x2000000\)/,
    );
    expect(await invalid((y) => y.replace("{ name: u-boot, offset: 0,", "{ name: u-boot, offset: 0x8000000,").replace("size: 128MiB", "size: 256MiB"))).toMatch(
      /- flash\.partitions\.1\.offset: "image" at 0x4000000 is listed after "u-boot" at 0x8000000: list partitions in flash order/,
    );
    expect(await invalid((y) => y.replace("{ name: u-boot,", "{ name: image,"))).toMatch(/- flash\.partitions\.1\.name: "image" is named twice/);
    expect(await invalid((y) => y.replace("size: 64MiB }", "size: 64 furlongs }"))).toMatch(/- flash\.partitions\.1\.size/);
    expect(await invalid((y) => y.replace("  partition: image\n", "  partition: image\n  maxImageSize: 65MiB\n"))).toMatch(/maxImageSize \(68157440\) is larger than the "image" partition/);
  });

  it("on the emulated board the kernel-image partition must start where U-Boot boots", async () => {
    expect(await invalid((y) => y.replace("{ name: OpenBlocks A series Kernel Image, offset: 0x4000000, size: 48MiB }", "{ name: OpenBlocks A series Kernel Image, offset: 0x4000000, size: 32MiB }").replace("offset: 0x2000000, size: 32MiB", "offset: 0x2000000, size: 16MiB").replace("{ name: OpenBlocks A series Kernel Image, offset: 0x4000000", "{ name: OpenBlocks A series Kernel Image, offset: 0x3000000"))).toMatch(
      /- flash\.layouts\.ax3-names\.partitions\.4\.offset: U-Boot boots the image at qemu\.imageAddress 0x4000000, but "OpenBlocks A series Kernel Image" starts at 0x3000000/,
    );
  });

  it("sizes and offsets take the forms of the other size fields, and hex", async () => {
    const b = await loadBoard("qemu-virt");
    expect(b.flash?.partitions?.map((p) => [p.offset, p.size])).toEqual([
      [0, 64 * MiB],
      [0x4000000, 64 * MiB],
    ]);
    expect(b.flash?.maxImageSize).toBe(64 * MiB);
  });
});
