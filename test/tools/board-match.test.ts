/** An image for one board is refused for another, by what its header says (real mkimage images). */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { matchIdentity } from "../../src/board/identity.js";
import { imageBoardMismatches, imageVariant } from "../../src/image/board-match.js";
import { parseUImage } from "../../src/image/uimage.js";
import { fakeZImage } from "../support/images.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-match-"));


function mkimage(name: string, args: string[], parts: Buffer[]): Buffer {
  const files = parts.map((p, i) => {
    const f = join(dir, `${name}.${i}`);
    writeFileSync(f, p);
    return f;
  });
  const out = join(dir, `${name}.uImage`);
  execFileSync("mkimage", [...args, "-d", files.join(":"), out], { stdio: "ignore" });
  return readFileSync(out);
}

const lzmaRamdisk = Buffer.concat([Buffer.from([0x5d, 0, 0, 0x80, 0]), Buffer.alloc(64, 1)]);
const gzRamdisk = gzipSync(Buffer.from("070701"));
const dtb = Buffer.concat([Buffer.from([0xd0, 0x0d, 0xfe, 0xed]), Buffer.alloc(60)]);

describe("imageBoardMismatches", () => {
  it("an AX3 image as seed 004 packs it matches the AX3", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    const img = mkimage("ax3", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x8000", "-e", "0x8000", "-n", "OBSAX3LXC 6.1.0"], [gzipSync(fakeZImage(4096)), lzmaRamdisk]);
    expect(imageBoardMismatches(ax3, parseUImage(img))).toEqual([]);
  });

  it("the qemu-virt image is refused for the AX3, naming every difference", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    const virt = mkimage("virt", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x40008000", "-e", "0x40008000", "-n", "KILNVIRT 6.1.0"], [gzipSync(fakeZImage(4096)), gzRamdisk, dtb]);
    const m = imageBoardMismatches(ax3, parseUImage(virt));
    expect(m).toContain("load address is 0x40008000, the board needs 0x8000");
    expect(m).toContain("entry point is 0x40008000, the board needs 0x8000");
    expect(m.join("\n")).toMatch(/it has 3 part\(s\), the board's image has 2/);
    expect(m.join("\n")).toMatch(/name "KILNVIRT 6\.1\.0" does not start with "OBSAX3LXC "/);
    // and the other way round
    const qemu = await loadBoard("qemu-virt");
    expect(imageBoardMismatches(qemu, parseUImage(virt))).toEqual([]);
  });

  it("a backup of the vendor's firmware is judged by what boots it, not by its name or packing", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    const vendor = mkimage("vendor", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "none", "-a", "0x8000", "-e", "0x8000", "-n", "Linux-3.0.6"], [fakeZImage(4096), lzmaRamdisk]);
    expect(imageBoardMismatches(ax3, parseUImage(vendor))).not.toEqual([]);
    expect(imageBoardMismatches(ax3, parseUImage(vendor), { vendorImage: true })).toEqual([]);
    // A backup of an image kiln made (its name) is judged like an image to flash: here, the wrong compression.
    const kilnMade = mkimage("kiln-made", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "none", "-a", "0x8000", "-e", "0x8000", "-n", "OBSAX3LXC 6.1.0"], [fakeZImage(4096), lzmaRamdisk]);
    expect(imageBoardMismatches(ax3, parseUImage(kilnMade), { vendorImage: true })).toContain("compression is none, the board needs gzip");
  });
});

describe("imageVariant: the AX3 and its QEMU twin", () => {
  it("tells the board's own image from its QEMU twin, and refuses the qemu-virt image as either", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    const own = mkimage("own", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x8000", "-e", "0x8000", "-n", "OBSAX3LXC 6.1.0"], [gzipSync(fakeZImage(4096)), lzmaRamdisk]);
    const twin = mkimage("twin", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x40008000", "-e", "0x40008000", "-n", "OBSAX3LXC 6.1.0"], [gzipSync(fakeZImage(4096)), lzmaRamdisk, dtb]);
    const virt = mkimage("virt2", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x40008000", "-e", "0x40008000", "-n", "KILNVIRT 6.1.0"], [gzipSync(fakeZImage(4096)), gzRamdisk, dtb]);
    expect(imageVariant(ax3, parseUImage(own))).toEqual({ variant: "board", mismatches: [] });
    expect(imageVariant(ax3, parseUImage(twin))).toEqual({ variant: "qemu", mismatches: [] });
    // Refused, with the differences from the board's own image.
    const v = imageVariant(ax3, parseUImage(virt));
    expect(v.mismatches).toContain("load address is 0x40008000, the board needs 0x8000");
    // A board without a twin has only its own image.
    const { qemu: _, ...real } = ax3;
    expect(imageVariant(real, parseUImage(twin)).mismatches).not.toEqual([]);
  });
});


describe("matchIdentity: a real board also emulated", () => {
  it("the AX3 matches its own model and, marked emulated, QEMU's; qemu-virt's own match is never marked", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    const virt = await loadBoard("qemu-virt");
    expect(matchIdentity(ax3, { model: "PlatHome OpenBlocks AX3-4 board", cpuinfoHardware: undefined })).toMatchObject({ ok: true, emulated: false });
    expect(matchIdentity(ax3, { model: "linux,dummy-virt", cpuinfoHardware: undefined })).toMatchObject({ ok: true, emulated: true, found: "linux,dummy-virt (openblocks-ax3 under QEMU)" });
    expect(matchIdentity(virt, { model: "linux,dummy-virt", cpuinfoHardware: undefined })).toMatchObject({ ok: true, emulated: false });
    expect(matchIdentity(ax3, { model: "Globalscale Technologies Mirabox", cpuinfoHardware: undefined }).ok).toBe(false);
  });
});
