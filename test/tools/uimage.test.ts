import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { inspectCommand } from "../../src/commands/inspect.js";
import { CheckFailedError, InputError } from "../../src/errors.js";
import {
  formatUImage,
  parseMkimageListing,
  parseUImage,
  sniffKind,
  UImageError,
  verifyUImage,
  type UImageHeader,
} from "../../src/image/uimage.js";

// Every image here is made by the real mkimage, so the parser is checked
// against U-Boot's own writer rather than against kiln's idea of the format.
const EPOCH = 1_700_000_000;
const TOOL_ENV = { ...process.env, SOURCE_DATE_EPOCH: String(EPOCH), LC_ALL: "C" };

let dir: string;
const path = (name: string): string => join(dir, name);

/** Deterministic bytes: random-looking, but no run can start with a magic number by chance. */
function noise(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  out[0] = 0x00;
  return out;
}

/** An ARM zImage as far as its header goes: NOPs, the magic at 0x24, start and end at 0x28/0x2c. */
function fakeZImage(size: number): Buffer {
  const z = noise(size, 7);
  for (let off = 0; off < 0x24; off += 4) z.writeUInt32LE(0xe1a00000, off);
  z.writeUInt32LE(0x016f2818, 0x24);
  z.writeUInt32LE(0, 0x28);
  z.writeUInt32LE(size, 0x2c);
  return z;
}

function mkimage(args: string[]): Buffer {
  execFileSync("mkimage", args, { env: TOOL_ENV, stdio: ["ignore", "pipe", "pipe"] });
  const out = args.at(-1);
  if (out === undefined) throw new Error("mkimage needs an output file");
  return readFileSync(out);
}

function mkimageList(file: string): string {
  return execFileSync("mkimage", ["-l", file], { env: TOOL_ENV, encoding: "utf8" });
}

function partBytes(img: Buffer, h: UImageHeader, index: number): Buffer {
  const p = h.parts[index];
  if (p === undefined) throw new Error(`no part ${index}`);
  return img.subarray(p.offset, p.offset + p.size);
}

/** Re-seal both CRCs after editing an image, so a test isolates one fault. */
function reseal(img: Buffer): Buffer {
  const out = Buffer.from(img);
  const size = out.readUInt32BE(12);
  out.writeUInt32BE(crc32Of(out.subarray(64, 64 + size)), 24);
  out.writeUInt32BE(0, 4);
  out.writeUInt32BE(crc32Of(out.subarray(0, 64)), 4);
  return out;
}

function crc32Of(b: Buffer): number {
  // Independent of the module under test: gzip's trailer carries the CRC32 of its input.
  const gz = gzipSync(b);
  return gz.readUInt32LE(gz.length - 8);
}

let kernelRaw: Buffer;
let zImageGz: Buffer;
let ramdiskLzma: Buffer;
let ramdiskXz: Buffer;
let cpioGz: Buffer;
let dtb: Buffer;
let zImageDtb: Buffer;
let zImage: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-uimage-"));
  kernelRaw = noise(3001, 1);
  writeFileSync(path("Image"), kernelRaw);

  zImage = fakeZImage(0x1000);
  zImageGz = gzipSync(zImage);
  writeFileSync(path("zImage.gz"), zImageGz);

  writeFileSync(path("ramdisk"), Buffer.concat([Buffer.from("070701"), noise(5000, 3)]));
  execFileSync("sh", ["-c", `lzma -c ramdisk > ramdisk.lzma && xz -c ramdisk > ramdisk.xz`], { cwd: dir });
  ramdiskLzma = readFileSync(path("ramdisk.lzma"));
  ramdiskXz = readFileSync(path("ramdisk.xz"));
  cpioGz = gzipSync(readFileSync(path("ramdisk")));
  writeFileSync(path("ramdisk.gz"), cpioGz);

  writeFileSync(path("x.dts"), '/dts-v1/;\n/ {\n\tmodel = "x";\n};\n');
  execFileSync("dtc", ["-I", "dts", "-O", "dtb", "-o", path("x.dtb"), path("x.dts")], { stdio: "ignore" });
  dtb = readFileSync(path("x.dtb"));

  zImageDtb = Buffer.concat([zImage, dtb]);
  writeFileSync(path("zImage.dtb"), zImageDtb);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("sniffKind", () => {
  it("recognises the inputs kiln packs", () => {
    expect(sniffKind(zImageGz)).toBe("gzip");
    expect(sniffKind(ramdiskLzma)).toBe("lzma");
    expect(sniffKind(ramdiskXz)).toBe("xz");
    expect(sniffKind(dtb)).toBe("dtb");
    expect(sniffKind(zImage)).toBe("zImage");
    expect(sniffKind(zImageDtb)).toBe("zImage+dtb");
    expect(sniffKind(Buffer.from("070701000000"))).toBe("cpio");
    expect(sniffKind(Buffer.from("070702000000"))).toBe("cpio");
    expect(sniffKind(kernelRaw)).toBe("unknown");
    expect(sniffKind(Buffer.alloc(0))).toBe("unknown");
  });

  it("finds an ext2 superblock magic at 1080", () => {
    const fs = Buffer.alloc(2048);
    fs.writeUInt16LE(0xef53, 1080);
    expect(sniffKind(fs)).toBe("ext2");
  });

  it("calls a zImage with something other than a DTB after it just a zImage", () => {
    expect(sniffKind(Buffer.concat([zImage, Buffer.from([0xde, 0xad, 0xbe, 0xef])]))).toBe("zImage");
  });
});

describe("parseUImage on mkimage's output", () => {
  it("reads a single kernel image", () => {
    const img = mkimage([
      "-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none",
      "-a", "0x80008000", "-e", "0x80008040", "-n", "kiln test kernel", "-d", path("Image"), path("k.img"),
    ]);
    const h = parseUImage(img);
    expect(h).toMatchObject({
      magic: 0x27051956,
      headerCrcOk: true,
      dataCrcOk: true,
      dataSize: kernelRaw.length,
      load: 0x80008000,
      entry: 0x80008040,
      os: "linux",
      arch: "arm",
      type: "kernel",
      compression: "none",
      name: "kiln test kernel",
      fileSize: img.length,
      truncated: false,
    });
    expect(h.time.getTime()).toBe(EPOCH * 1000);
    expect(h.parts).toEqual([{ index: 0, offset: 64, size: kernelRaw.length, kind: "unknown" }]);
    expect(partBytes(img, h, 0).equals(kernelRaw)).toBe(true);
    expect(verifyUImage(h)).toEqual([]);
  });

  it("reads the seed's OpenBlocks AX3 two-part image (gzip kernel + lzma ramdisk)", () => {
    const img = mkimage([
      "-n", "OBSAX3LXC 3.0.6-5", "-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip",
      "-a", "0x8000", "-e", "0x8000", "-d", `${path("zImage.gz")}:${path("ramdisk.lzma")}`, path("uImage.initrd.obsax3"),
    ]);
    const h = parseUImage(img);
    expect(h).toMatchObject({
      name: "OBSAX3LXC 3.0.6-5",
      arch: "arm",
      os: "linux",
      type: "multi",
      compression: "gzip",
      load: 0x8000,
      entry: 0x8000,
      headerCrcOk: true,
      dataCrcOk: true,
    });
    expect(h.time.getTime()).toBe(EPOCH * 1000);
    expect(h.parts.map((p) => [p.size, p.kind])).toEqual([
      [zImageGz.length, "gzip"],
      [ramdiskLzma.length, "lzma"],
    ]);
    expect(h.parts[0]?.offset).toBe(64 + 12);
    expect(partBytes(img, h, 0).equals(zImageGz)).toBe(true);
    expect(partBytes(img, h, 1).equals(ramdiskLzma)).toBe(true);
    expect(sniffKind(gunzipSync(partBytes(img, h, 0)))).toBe("zImage");
    expect(verifyUImage(h)).toEqual([]);
  });

  it("reads a three-part kernel:ramdisk:dtb image at the offsets dumpimage uses", () => {
    // Odd sizes make mkimage pad between parts.
    expect(zImageGz.length % 4).not.toBe(0);
    const img = mkimage([
      "-n", "KILNVIRT test", "-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip",
      "-a", "0x40008000", "-e", "0x40008000",
      "-d", `${path("zImage.gz")}:${path("ramdisk.gz")}:${path("x.dtb")}`, path("uImage.qemu-virt"),
    ]);
    const h = parseUImage(img);
    expect(h.parts.map((p) => p.kind)).toEqual(["gzip", "gzip", "dtb"]);
    const inputs = [zImageGz, cpioGz, dtb];
    inputs.forEach((input, i) => {
      expect(partBytes(img, h, i).equals(input)).toBe(true);
      execFileSync("dumpimage", ["-T", "multi", "-p", String(i), "-o", path(`part${i}`), path("uImage.qemu-virt")], { stdio: "ignore" });
      expect(readFileSync(path(`part${i}`)).equals(input)).toBe(true);
    });
    expect(h.parts[1]?.offset).toBe(64 + 16 + ((zImageGz.length + 3) & ~3));
    expect(h.dataCrcOk).toBe(true);
    expect(verifyUImage(h)).toEqual([]);
  });

  it("reads Plat'Home's later -C none image of a zImage with its DTB appended", () => {
    const img = mkimage([
      "-n", "OBSAX3 4.19", "-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none",
      "-a", "0x8000", "-e", "0x8000", "-d", path("zImage.dtb"), path("uImage.dtb"),
    ]);
    const h = parseUImage(img);
    expect(h.compression).toBe("none");
    expect(h.parts).toEqual([{ index: 0, offset: 64, size: zImageDtb.length, kind: "zImage+dtb" }]);
    expect(partBytes(img, h, 0).equals(zImageDtb)).toBe(true);
    expect(verifyUImage(h)).toEqual([]);
  });

  it("names arm64 and unknown codes", () => {
    const img = mkimage(["-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "lzma", "-d", path("ramdisk.lzma"), path("a64.img")]);
    const h = parseUImage(img);
    expect([h.arch, h.compression]).toEqual(["arm64", "lzma"]);
    const odd = Buffer.from(img);
    odd[28] = 200; // os
    odd[31] = 77; // comp
    const h2 = parseUImage(reseal(odd));
    expect([h2.os, h2.compression]).toEqual(["unknown (200)", "unknown (77)"]);
    expect(formatUImage(h2)).toContain("Image Type:   AArch64 Unknown OS Kernel Image (Unknown Compression)");
  });

  it("keeps a 32-character name that has no terminating NUL", () => {
    const img = mkimage(["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none", "-n", "A".repeat(40), "-d", path("Image"), path("long.img")]);
    expect(parseUImage(img).name).toBe("A".repeat(32));
  });
});

describe("damage", () => {
  let good: Buffer;
  beforeAll(() => {
    good = mkimage([
      "-n", "OBSAX3LXC 3.0.6-5", "-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip",
      "-a", "0x8000", "-e", "0x8000", "-d", `${path("zImage.gz")}:${path("ramdisk.lzma")}`, path("good.img"),
    ]);
  });

  it("a flipped data byte fails the data CRC only", () => {
    const bad = Buffer.from(good);
    bad[200] = (bad[200] ?? 0) ^ 0xff;
    const h = parseUImage(bad);
    expect(h.headerCrcOk).toBe(true);
    expect(h.dataCrcOk).toBe(false);
    expect(verifyUImage(h).join("\n")).toMatch(/bad data CRC/);
  });

  it("a flipped header byte fails the header CRC", () => {
    const bad = Buffer.from(good);
    bad[40] = (bad[40] ?? 0) ^ 0x01; // inside the name
    const h = parseUImage(bad);
    expect(h.headerCrcOk).toBe(false);
    expect(h.dataCrcOk).toBe(true);
    expect(verifyUImage(h).join("\n")).toMatch(/bad header CRC/);
  });

  it("a cut-off file is truncated, with its data CRC unknown", () => {
    const h = parseUImage(good.subarray(0, good.length - 100));
    expect(h.truncated).toBe(true);
    expect(h.dataCrcOk).toBeUndefined();
    expect(h.headerCrcOk).toBe(true);
    expect(verifyUImage(h).join("\n")).toMatch(/truncated.*promises \d+ data bytes/);
    expect(formatUImage(h)).toContain("(not checked: file truncated)");
  });

  it("trailing flash padding after the data is not a problem", () => {
    const h = parseUImage(Buffer.concat([good, Buffer.alloc(4096, 0xff)]));
    expect(h.dataCrcOk).toBe(true);
    expect(verifyUImage(h)).toEqual([]);
  });

  it("a size list that does not add up to the data size is reported", () => {
    const longer = Buffer.from(good);
    longer.writeUInt32BE(ramdiskLzma.length + 64, 64 + 4);
    expect(verifyUImage(parseUImage(reseal(longer))).join("\n")).toMatch(/part 1 .* runs past the end of the data/);

    const shorter = Buffer.from(good);
    shorter.writeUInt32BE(ramdiskLzma.length - 64, 64 + 4);
    expect(verifyUImage(parseUImage(reseal(shorter))).join("\n")).toMatch(/64 data bytes after the last part/);

    const empty = Buffer.from(good);
    empty.writeUInt32BE(0, 64);
    expect(verifyUImage(parseUImage(reseal(empty))).join("\n")).toMatch(/lists no parts/);
  });

  it("a kernel whose bytes contradict the compression field is reported", () => {
    const img = mkimage(["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "gzip", "-d", path("zImage.dtb"), path("wrongcomp.img")]);
    expect(verifyUImage(parseUImage(img)).join("\n")).toMatch(/kernel: it is zImage\+dtb but the header says gzip/);
  });

  it("not an image: says what it looks like", () => {
    expect(() => parseUImage(zImageGz)).toThrow(UImageError);
    expect(() => parseUImage(zImageGz)).toThrow(/starts with 1f 8b .*looks like gzip-compressed data/);
    expect(() => parseUImage(zImageDtb)).toThrow(/zImage with an appended device tree/);
    expect(() => parseUImage(dtb)).toThrow(/flattened device tree/);
    expect(() => parseUImage(Buffer.alloc(0))).toThrow(/empty/);
    try {
      parseUImage(ramdiskLzma);
    } catch (err) {
      expect(err).toBeInstanceOf(UImageError);
      expect((err as UImageError).kind).toBe("lzma");
    }
  });

  it("a header cut short is too short", () => {
    expect(() => parseUImage(good.subarray(0, 40))).toThrow(/too short: 40 bytes/);
  });
});

describe("formatUImage against mkimage -l", () => {
  const cases: [string, string[]][] = [
    ["kernel", ["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none", "-a", "0x80008000", "-e", "0x80008040", "-n", "k"]],
    ["multi", ["-n", "OBSAX3LXC 3.0.6-5", "-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x8000", "-e", "0x8000"]],
    ["script", ["-T", "script", "-C", "none", "-n", "boot script"]],
    ["ramdisk", ["-A", "arm64", "-O", "linux", "-T", "ramdisk", "-C", "lzma"]],
  ];
  for (const [label, args] of cases) {
    it(`matches the listing of a ${label} image`, () => {
      const data =
        label === "multi"
          ? `${path("zImage.gz")}:${path("ramdisk.lzma")}`
          : label === "script"
            ? `${path("Image")}:${path("x.dtb")}`
            : path("Image");
      const out = path(`list-${label}.img`);
      const h = parseUImage(mkimage([...args, "-d", data, out]));
      const theirs = parseMkimageListing(mkimageList(out));
      const ours = parseMkimageListing(formatUImage(h));
      expect(theirs.get("Image Type")).toBeDefined();
      expect(Object.fromEntries(ours)).toEqual(Object.fromEntries(theirs));
      // The listing is mkimage's own lines, verbatim, before kiln's additions;
      // except a script's "Offset =", where mkimage prints its own memory address.
      const noOffsets = (t: string): string => t.replace(/^ {4}Offset = 0x[0-9a-f]+\n/gm, "");
      expect(noOffsets(formatUImage(h)).startsWith(noOffsets(mkimageList(out)))).toBe(true);
    });
  }

  it("rounds sizes the way printf does (1152 bytes = 1.12 KiB)", () => {
    writeFileSync(path("s1152"), noise(1152, 9));
    const out = path("s1152.img");
    const h = parseUImage(mkimage(["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none", "-d", path("s1152"), out]));
    expect(formatUImage(h)).toContain("Data Size:    1152 Bytes = 1.12 KiB = 0.00 MiB");
    expect(parseMkimageListing(mkimageList(out)).get("Data Size")).toBe("1152 Bytes = 1.12 KiB = 0.00 MiB");
  });

  it("adds kiln's part kinds and CRC verdicts", () => {
    const out = path("list-multi.img");
    const text = formatUImage(parseUImage(readFileSync(out)));
    expect(text).toMatch(/Header CRC: {3}0x[0-9a-f]{8} \(ok\)/);
    expect(text).toMatch(/Data CRC: {5}0x[0-9a-f]{8} \(ok\)/);
    expect(text).toMatch(/Parts:\n {3}Image 0: gzip at 0x0000004c\n {3}Image 1: lzma at 0x[0-9a-f]{8}/);
    expect(text).toContain("Problems:     none");
  });
});

describe("inspectCommand", () => {
  let written: string;
  beforeAll(() => {
    mkimage([
      "-n", "OBSAX3LXC 3.0.6-5", "-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip",
      "-a", "0x8000", "-e", "0x8000", "-d", `${path("zImage.gz")}:${path("ramdisk.lzma")}`, path("inspect.img"),
    ]);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  function capture(): void {
    written = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
      return true;
    });
  }

  it("prints the listing and mkimage's agreement for a good image", async () => {
    capture();
    await inspectCommand({ file: path("inspect.img"), json: false });
    expect(written).toContain("Image Type:   ARM Linux Multi-File Image (gzip compressed)");
    expect(written).toContain("mkimage -l:   agrees");
  });

  it("emits JSON with parts and no problems", async () => {
    capture();
    await inspectCommand({ file: path("inspect.img"), json: true });
    const report = JSON.parse(written) as {
      type: string;
      time: string;
      timestamp: number;
      parts: { kind: string }[];
      problems: string[];
      mkimage: { ran: boolean; recognised: boolean };
    };
    expect(report.type).toBe("multi");
    expect(report.timestamp).toBe(EPOCH);
    expect(report.time).toBe(new Date(EPOCH * 1000).toISOString());
    expect(report.parts.map((p) => p.kind)).toEqual(["gzip", "lzma"]);
    expect(report.problems).toEqual([]);
    expect(report.mkimage).toMatchObject({ ran: true, recognised: true });
  });

  it("fails a damaged image with CheckFailedError", async () => {
    const bad = readFileSync(path("inspect.img"));
    bad[300] = (bad[300] ?? 0) ^ 0xff;
    writeFileSync(path("inspect-bad.img"), bad);
    capture();
    await expect(inspectCommand({ file: path("inspect-bad.img"), json: false })).rejects.toThrow(CheckFailedError);
    expect(written).toContain("bad data CRC");
  });

  it("rejects a file that is not a uImage with InputError", async () => {
    capture();
    const err: unknown = await inspectCommand({ file: path("zImage.gz"), json: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(/gzip-compressed data/);
  });

  it("rejects a missing file with InputError", async () => {
    await expect(inspectCommand({ file: path("nope.img"), json: false })).rejects.toThrow(InputError);
  });

  it("mkimage -l itself lists nothing for a damaged image, which is why kiln checks on its own", () => {
    const bad = readFileSync(path("inspect.img"));
    bad[300] = (bad[300] ?? 0) ^ 0xff;
    writeFileSync(path("silent.img"), bad);
    const r = spawnSync("mkimage", ["-l", path("silent.img")], { encoding: "utf8" });
    expect(r.stdout).not.toContain("Image Type:");
  });
});
