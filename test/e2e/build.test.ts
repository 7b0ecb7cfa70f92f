/**
 * `kiln build --board openblocks-ax3` end to end: the real cross compiler, the
 * real mkimage. The output lives in kiln's cache directory at a fixed path, so
 * CI runs share the build (and ccache) with earlier ones.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { parseUImage, sniffKind } from "../../src/image/uimage.js";
import { cacheDir } from "../../src/paths.js";
import { kiln, repoRoot, testWork } from "../support/cli.js";
import { e2eKey } from "../support/e2e-key.js";
import { withSharedDir } from "../support/shared-dir.js";

interface BuildJson {
  stages: { stage: string; ran: boolean; how: string; why: string[] }[];
  image: string;
  manifest: string;
}

const out = join(cacheDir(), "e2e", "openblocks-ax3");
// The e2e key, as ax3-qemu.test.ts builds it: the same inputs, so the two share one rootfs.
// Waits for ax3-qemu.test.ts, which may be building the same directory beside this file (see shared-dir.ts).
const build = (...extra: string[]) => withSharedDir(out, () => kiln(["build", "--board", "openblocks-ax3", "--out", out, "--authorized-key", `${e2eKey}.pub`, "--json", ...extra]));

describe("kiln build --board openblocks-ax3", () => {
  let first: BuildJson;

  beforeAll(async () => {
    mkdirSync(out, { recursive: true });
    const r = await build();
    if (r.exitCode !== 0) throw new Error(`kiln build failed (${r.exitCode}):\n${r.stderr}`);
    first = JSON.parse(r.stdout) as BuildJson;
  }, 3_600_000);

  it("writes uImage.initrd.obsax3 as the seed's mkimage line does", async () => {
    expect(first.image).toBe(join(out, "uImage.initrd.obsax3"));
    const l = (await execa("mkimage", ["-l", first.image])).stdout;
    expect(l).toMatch(/Image Type:\s+ARM Linux Multi-File Image \(gzip compressed\)/);
    expect(l).toMatch(/Load Address:\s+00008000/);
    expect(l).toMatch(/Entry Point:\s+00008000/);
    expect(l).toMatch(/Image Name:\s+OBSAX3LXC 6\.1\./);
    expect(l.match(/Image \d+: /g)).toHaveLength(2);
  });

  it("its first part gunzips to the zImage followed by the AX3 DTB", () => {
    const buf = readFileSync(first.image);
    const h = parseUImage(buf);
    const kernelPart = h.parts[0];
    if (!kernelPart) throw new Error("no parts");
    const kernel = gunzipSync(buf.subarray(kernelPart.offset, kernelPart.offset + kernelPart.size));
    expect(sniffKind(kernel)).toBe("zImage+dtb");
    const dtb = readFileSync(join(out, "kernel", "arch", "arm", "boot", "dts", "armada-xp-openblocks-ax3-4.dtb"));
    expect(kernel.subarray(kernel.length - dtb.length).equals(dtb)).toBe(true);
    const zImage = readFileSync(join(out, "kernel", "arch", "arm", "boot", "zImage"));
    expect(kernel.length).toBe(zImage.length + dtb.length);
    expect(sniffKind(buf.subarray(h.parts[1]?.offset ?? 0))).toBe("lzma");
  });

  it("a second build with nothing changed runs no tool", async () => {
    const logs = ["kconfig.log", "kernel.log", "rootfs.log", "image.log"].map((f) => join(out, "logs", f));
    const before = logs.map((f) => (existsSync(f) ? readFileSync(f, "utf8") : ""));
    const r = await build();
    expect(r.exitCode).toBe(0);
    const again = JSON.parse(r.stdout) as BuildJson;
    expect(again.stages.map((s) => s.ran)).toEqual([false, false, false, false]);
    expect(logs.map((f) => (existsSync(f) ? readFileSync(f, "utf8") : ""))).toEqual(before);
  }, 120_000);

  it("refuses an image larger than the flash partition, before writing anything", async () => {
    const boards = join(testWork(), "tiny-boards");
    mkdirSync(join(boards, "tiny-ax3"), { recursive: true });
    cpSync(join(repoRoot, "board", "openblocks-ax3", "kernel.config"), join(boards, "tiny-ax3", "kernel.config"));
    writeFileSync(
      join(boards, "tiny-ax3", "board.yaml"),
      readFileSync(join(repoRoot, "board", "openblocks-ax3", "board.yaml"), "utf8").replace("  partition: OpenBlocks A series Kernel Image\n", "  partition: OpenBlocks A series Kernel Image\n  maxImageSize: 1MiB\n"),
    );
    const tinyOut = join(testWork(), "tiny-out");
    mkdirSync(tinyOut, { recursive: true });
    cpSync(join(out, "kernel-artifacts.json"), join(tinyOut, "kernel-artifacts.json"));
    mkdirSync(join(tinyOut, "kernel"));
    cpSync(join(out, "kernel", ".config"), join(tinyOut, "kernel", ".config"));
    const ramdisk = join(tinyOut, "small.cpio");
    writeFileSync(ramdisk, Buffer.concat([Buffer.from("070701"), Buffer.alloc(4096, 0x22)]));
    const r = await kiln(["image", "--no-deps", "--board", "tiny-ax3", "--out", tinyOut, "--ramdisk", ramdisk], { env: { KILN_BOARD_DIR: boards } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/more than the OpenBlocks A series Kernel Image partition holds \(1048576 bytes/);
    expect(r.stderr).toMatch(/the largest part is the kernel/);
    expect(existsSync(join(tinyOut, "uImage.initrd.obsax3"))).toBe(false);
  }, 300_000);

  it("kiln inspect reads and verifies the image", async () => {
    const r = await kiln(["inspect", first.image, "--json"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/"compression": "gzip"/);
  });

  it("a second output directory, given relative to another working directory, takes config and kernel from the stage cache", async () => {
    const cwd = join(testWork(), "elsewhere");
    mkdirSync(cwd, { recursive: true });
    const r = await kiln(["build", "--board", "openblocks-ax3", "--out", "second/ax3", "--authorized-key", `${e2eKey}.pub`, "--json"], { cwd });
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as BuildJson;
    expect(j.stages.map((s) => [s.stage, s.how])).toEqual([["config", "cache"], ["kernel", "cache"], ["rootfs", "cache"], ["image", "built"]]);
    expect(j.image).toBe(join(cwd, "second", "ax3", "uImage.initrd.obsax3"));
    // The same inputs make the same image, wherever the output directory is.
    expect(readFileSync(j.image).equals(readFileSync(first.image))).toBe(true);
    const art = JSON.parse(readFileSync(join(cwd, "second", "ax3", "kernel-artifacts.json"), "utf8")) as { zImage: string };
    expect(art.zImage).toBe(join(cwd, "second", "ax3", "kernel", "arch", "arm", "boot", "zImage"));

    // A new ramdisk re-packs the image without touching the kernel (here, not in the shared directory that
    // ax3-qemu.test.ts boots from).
    const ramdisk = join(testWork(), "other-ramdisk.cpio");
    await execa("sh", ["-c", `mkdir -p ${testWork()}/rd/etc && echo kiln > ${testWork()}/rd/etc/hostname && cd ${testWork()}/rd && find . | cpio -o -H newc > ${ramdisk}`]);
    const other = await kiln(["build", "--board", "openblocks-ax3", "--out", "second/ax3", "--authorized-key", `${e2eKey}.pub`, "--ramdisk", ramdisk, "--json"], { cwd });
    expect(other.exitCode, other.stderr).toBe(0);
    const o = JSON.parse(other.stdout) as BuildJson;
    expect(o.stages.map((s) => [s.stage, s.ran])).toEqual([["config", false], ["kernel", false], ["image", true]]);
    expect(o.stages[2]?.why).toContain("ramdisk changed");
    rmSync(join(cwd, "second"), { recursive: true, force: true });
  }, 600_000);
  // Two clean builds giving the same bytes is proven on qemu-virt's small kernel
  // (test/qemu/qemu-board.test.ts): the same kiln code and SOURCE_DATE_EPOCH, at a
  // fifth of the AX3 kernel's compile time.
});
