/**
 * `kiln image` (the built CLI, as the stage reads compiled engine files) on a
 * stand-in kernel: a zImage header and a real DTB, with the real fdtput,
 * mkimage and lzma. The partitions reach the appended DTB, the limit comes from
 * the board data or a probed unit, and both AX3 packings are recognised.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { fdtNodes } from "../../src/image/dtb-partitions.js";
import { describePacking, parseUImage, verifyUImage } from "../../src/image/uimage.js";
import { parseProcMtd } from "../../src/remote/probe.js";
import type { UnitProfile } from "../../src/remote/profile.js";
import { kiln, repoRoot } from "../support/cli.js";
import { fakeZImage } from "../support/images.js";

const MiB = 1024 * 1024;
let dir: string;
let boards: string;
let ramdisk: string;


/** A build output directory as the kernel stage leaves it. */
function kernelOut(name: string): string {
  const out = join(dir, name);
  mkdirSync(join(out, "kernel"), { recursive: true });
  writeFileSync(join(out, "kernel", ".config"), "CONFIG_ARM=y\n");
  writeFileSync(join(out, "kernel-artifacts.json"), JSON.stringify({ release: "6.1.0-test", zImage: join(dir, "zImage"), dtb: join(dir, "board.dtb"), version: "6.1.0", epoch: 1_700_000_000 }));
  return out;
}

/** A probe profile of an AX3 under the vendor firmware, its sizes filling the 128 MiB chip. */
function vendorUnit(kernelImageSize: number): string {
  const sizes = [MiB, MiB, 2 * MiB, 4 * MiB, kernelImageSize, 0, 8 * MiB];
  sizes[5] = 128 * MiB - sizes.reduce((a, b) => a + b, 0);
  const names = ["Uboot", "Uboot Configuration Data", "Diag program Image", "Configuration Data", "Kernel Image", "User Flash", "Java Image"];
  const mtd = parseProcMtd(names.map((n, i) => `mtd${i}: ${(sizes[i] as number).toString(16)} 00020000 "OpenBlocks A series ${n}"`).join("\n"));
  const profile: UnitProfile = { hostKey: "SHA256:ax3", host: "ax3-01", port: 22, probedAt: "2026-11-25T00:00:00Z", model: "PlatHome OpenBlocks AX3-4 board", release: "3.0.6", mtd, uploadDir: { path: "/tmp" }, flashcfg: { kind: "vendor" } };
  const file = join(dir, `unit-${kernelImageSize}.json`);
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

async function image(board: string, name: string, ...extra: string[]) {
  const out = kernelOut(name);
  const r = await kiln(["image", "--no-deps", "--board", board, "--out", out, "--ramdisk", ramdisk, ...extra], { env: { KILN_BOARD_DIR: boards, KILN_STATE_DIR: join(dir, "state") } });
  const file = join(out, "uImage.initrd.obsax3");
  return { ...r, out, bytes: r.exitCode === 0 ? readFileSync(file) : Buffer.alloc(0), manifest: join(out, "manifest.json") };
}

/** The DTB appended to the zImage in part 0, decompressed when the header says gzip. */
function appendedDtb(bytes: Buffer): Buffer {
  const h = parseUImage(bytes);
  const part = h.parts[0];
  if (!part) throw new Error("no part 0");
  let kernel = bytes.subarray(part.offset, part.offset + part.size);
  if (h.compression === "gzip") kernel = gunzipSync(kernel);
  return kernel.subarray(kernel.readUInt32LE(0x2c));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-image-flash-"));
  writeFileSync(join(dir, "zImage"), fakeZImage(64 * 1024));
  execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", join(dir, "board.dtb"), join(repoRoot, "test", "fixtures", "dtb", "board.dts")]);
  ramdisk = join(dir, "ramdisk.cpio");
  writeFileSync(ramdisk, Buffer.concat([Buffer.from("070701"), Buffer.alloc(4096, 0x22)]));
  // The AX3 as shipped, and the same board packed the later Plat'Home way.
  boards = join(dir, "boards");
  cpSync(join(repoRoot, "board", "openblocks-ax3"), join(boards, "openblocks-ax3"), { recursive: true });
  mkdirSync(join(boards, "ax3-none"));
  writeFileSync(join(boards, "ax3-none", "board.yaml"), readFileSync(join(repoRoot, "board", "openblocks-ax3", "board.yaml"), "utf8").replace("kernelCompression: gzip", "kernelCompression: none"));
});

describe("kiln image and the flash", () => {
  it("AX3 unprobed: packs as the seed does, and says the limit and the partitions are unknown", async () => {
    const r = await image("openblocks-ax3", "unprobed");
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/note: +the size of the "OpenBlocks A series Kernel Image" partition is unknown until the board is probed/);
    expect(fdtNodes(appendedDtb(r.bytes)).map((n) => n.path)).not.toContain("/soc/nor@0/partitions");
    expect(describePacking(r.bytes, parseUImage(r.bytes))).toMatchObject({ kernel: "zImage+dtb", dtb: "appended", text: expect.stringMatching(/-C gzip: the seed's packing/) as unknown });
    const manifest = JSON.parse(readFileSync(r.manifest, "utf8")) as { image: { limitKnown: boolean }; flash: { layout: string; notes: string[] } };
    expect(manifest.image.limitKnown).toBe(false);
    expect(manifest.flash.notes).toHaveLength(2);
  });

  it("AX3 with a probed unit: the partitions go into the appended DTB, the unit's size is the limit", async () => {
    const r = await image("openblocks-ax3", "probed", "--unit", vendorUnit(16 * MiB));
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toMatch(/note:/);
    const nodes = fdtNodes(appendedDtb(r.bytes)).map((n) => n.path);
    expect(nodes).toContain("/soc/nor@0/partitions/partition@800000");
    expect(nodes.filter((p) => p.startsWith("/soc/nor@0/partitions/"))).toHaveLength(7);
    const manifest = JSON.parse(readFileSync(r.manifest, "utf8")) as { image: { limit: number }; flash: { source: string; dtbNode: string } };
    expect(manifest.image.limit).toBe(16 * MiB);
    expect(manifest.flash).toMatchObject({ dtbNode: "/soc/nor@0", source: expect.stringMatching(/unit ax3-01:22/) as unknown });
  });

  it("refuses an image larger than the unit's kernel-image partition, saying by how much", async () => {
    const r = await image("openblocks-ax3", "too-small", "--unit", vendorUnit(256));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/more than the OpenBlocks A series Kernel Image partition holds \(256 bytes/);
    expect(r.stderr).toMatch(/the partition size is from the profile of unit ax3-01:22/);
  });

  it("-C none: Plat'Home's zImage.dtb, uncompressed, recognised as such", async () => {
    const r = await image("ax3-none", "none", "--unit", vendorUnit(16 * MiB));
    expect(r.exitCode).toBe(0);
    const h = parseUImage(r.bytes);
    expect(verifyUImage(h)).toEqual([]);
    expect(h.compression).toBe("none");
    expect(h.parts[0]?.kind).toBe("zImage+dtb");
    expect(describePacking(r.bytes, h)).toMatchObject({ kernel: "zImage+dtb", dtb: "appended", text: expect.stringMatching(/zImage\.dtb, -C none: Plat'Home's later packing/) as unknown });
    expect(fdtNodes(appendedDtb(r.bytes)).map((n) => n.path)).toContain("/soc/nor@0/partitions");
    const inspect = await kiln(["inspect", join(r.out, "uImage.initrd.obsax3")]);
    expect(inspect.stdout).toMatch(/^Packing: +uncompressed zImage with the DTB appended \(zImage\.dtb, -C none/m);
  });
});
