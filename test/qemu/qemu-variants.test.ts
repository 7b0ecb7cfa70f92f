/**
 * qemu-virt built other ways: the AX3's flash layout on the emulated board,
 * kiln config and kiln build sharing the config stage, two clean kernel builds
 * giving the same bytes, and an interrupted kiln qemu leaving no QEMU behind.
 * Every variant is built in a directory of its own: the shared build under
 * ~/.cache/kiln/e2e is read, never changed, by this file.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { kiln, testWork } from "../support/cli.js";
import { e2eKey as key } from "../support/e2e-key.js";
import { earlierProof, hashFile, hostPackages, proofKey, provenNote, recordProof, stampInputs, testSources } from "../support/proofs.js";
import { buildVirt, consoleLog, flashFile, startVirt as start, stateEnv, stopVirt as stop, virtImage as image, virtOut as out } from "../support/virt-board.js";

const MiB = 1024 * 1024;

interface Probe {
  mtd: { dev: string; name: string; size: number }[];
}

describe("the AX3's flash layout on the emulated board", () => {
  it("an image built with --flash-layout ax3-names shows the vendor's seven partitions, and kiln flash writes the kernel image one", async () => {
    await buildVirt(out);
    // Only the image stage differs between layouts: the variant packed in a directory of its own from the
    // shared build's kernel and ramdisk (the shared image stays as it is for the files running beside this one).
    const dir = join(testWork(), "ax3-names");
    mkdirSync(join(dir, "kernel"), { recursive: true });
    copyFileSync(join(out, "kernel-artifacts.json"), join(dir, "kernel-artifacts.json"));
    copyFileSync(join(out, "kernel", ".config"), join(dir, "kernel", ".config"));
    const variant = await kiln(["image", "--no-deps", "--board", "qemu-virt", "--out", dir, "--ramdisk", join(out, "rootfs", "ramdisk.cpio"), "--flash-layout", "ax3-names", "--json"]);
    expect(variant.exitCode, variant.stderr).toBe(0);
    const ax3 = join(dir, "uImage.qemu-virt");

    const { port } = await start("ax3names", ax3);
    try {
      const probe = await kiln(["probe", "--host", "127.0.0.1", "--port", String(port), "--identity", key, "--accept-new-host-key", "--json"], { env: stateEnv() });
      const p = JSON.parse(probe.stdout) as Probe;
      // The names the AX3's own board data gives its vendor partitions, in order.
      const ax3Names = ((await loadBoard("openblocks-ax3")).flash?.partitions ?? []).map((x) => x.name);
      expect(ax3Names).toHaveLength(7);
      expect(p.mtd.map((m) => m.name)).toEqual(ax3Names);
      expect(p.mtd.find((m) => m.name === "OpenBlocks A series Kernel Image")?.size).toBe(48 * MiB);

      // --no-check: what is shown here is the partition the image lands in; the live check has files of its own.
      const r = await kiln(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${port}`, "--identity", key, "--image", ax3, "--out", out, "--no-try", "--no-check", "--reboot-timeout", "300", "--json"], {
        env: stateEnv(),
      });
      const res = JSON.parse(r.stdout) as { results: { ok: boolean; flashcfg: string; error?: string }[] };
      expect(res.results[0]?.error).toBeUndefined();
      expect(res.results[0]).toMatchObject({ ok: true, flashcfg: "kiln" });
      expect(readFileSync(flashFile("ax3names")).subarray(0, 64).equals(readFileSync(ax3).subarray(0, 64))).toBe(true);
      expect(consoleLog("ax3names").match(/## Booting kernel from Legacy Image/g)?.length).toBe(2);
    } finally {
      await stop("ax3names");
    }
  }, 3_600_000);
});

describe("kiln config and kiln build share the config stage", () => {
  const how = (stdout: string) => (JSON.parse(stdout) as { stages: { stage: string; how: string }[] }).stages.map((x) => `${x.stage}=${x.how}`);

  it("kiln config then kiln build with nothing changed runs no stage; --fragment docker in between runs the config stage again, and only it", async () => {
    // A build directory of its own (config, kernel and rootfs come from the stage cache): this test changes its .config.
    const own = join(testWork(), "config-share");
    await buildVirt(own);
    const c = await kiln(["config", "--board", "qemu-virt", "--out", own]);
    expect(c.exitCode, c.stderr).toBe(0);
    expect(how((await buildVirt(own)).stdout)).toEqual(["config=up to date", "kernel=up to date", "rootfs=up to date", "image=up to date"]);
    const config = readFileSync(join(own, "kernel", ".config"));
    const docker = await kiln(["config", "--board", "qemu-virt", "--out", own, "--fragment", "docker", "--json"]);
    expect(docker.exitCode, docker.stderr).toBe(0);
    expect(readFileSync(join(own, "kernel", ".config")).equals(config)).toBe(false);
    const back = how((await buildVirt(own)).stdout);
    expect(back[0]).toMatch(/^config=(built|cache)$/);
    // The config is the one built before, byte for byte: nothing after it runs.
    expect(back.slice(1)).toEqual(["kernel=up to date", "rootfs=up to date", "image=up to date"]);
    expect(readFileSync(join(own, "kernel", ".config")).equals(config)).toBe(true);
  }, 900_000);
});

describe("reproducible builds", () => {
  it("two clean builds of the kernel in two output directories give the same image, byte for byte", async (ctx) => {
    // The shared build is the first clean build (made here, or earlier and kept by the stage cache: the same bytes).
    await buildVirt(out);
    const zImage = join(out, "kernel", "arch", "arm", "boot", "zImage");
    // Proven before for these very inputs, tools and bytes: a clean build again would only repeat it (proofs.ts).
    const proofParts = async () => ({
      test: testSources(["qemu/qemu-variants.test.ts", "support/virt-board.ts", "support/cli.ts", "support/proofs.ts"]),
      tools: hostPackages(["gcc-arm-linux-gnueabihf", "binutils-arm-linux-gnueabihf", "make", "ccache", "u-boot-tools", "device-tree-compiler", "gzip", "qemu-system-arm"]),
      ...(await stampInputs(out, ["config", "kernel", "image"])),
      zImage: hashFile(zImage),
      image: hashFile(image),
    });
    const proofId = proofKey(await proofParts());
    const earlier = earlierProof("kernel-clean-rebuild", proofId);
    if (earlier) ctx.skip(provenNote(earlier, "a clean kernel build in another directory"));
    // The root filesystem carries a host key made for each build: the same ramdisk goes into both.
    const ramdisk = join(testWork(), "repro-ramdisk.cpio");
    copyFileSync(join(out, "rootfs", "ramdisk.cpio"), ramdisk);
    const b = join(testWork(), "repro-b");
    // --no-cache: really configure and compile again (ccache makes it quick), not restore.
    const second = JSON.parse((await buildVirt(b, "--ramdisk", ramdisk, "--no-cache")).stdout) as { stages: { stage: string; how: string }[]; image: string };
    expect(second.stages.map((s) => `${s.stage}=${s.how}`)).toEqual(["config=built", "kernel=built", "image=built"]);
    expect(existsSync(join(b, "kernel", "arch", "arm", "boot", "zImage"))).toBe(true);
    expect(hashFile(join(b, "kernel", "arch", "arm", "boot", "zImage"))).toBe(hashFile(zImage));
    // The second build compressed the copied cpio itself; the shared build's image stage took the rootfs stage's
    // compressed file of the same cpio instead (rootfs-packed.ts): the same bytes either way.
    expect(hashFile(second.image)).toBe(hashFile(image));
    const ramdiskPart = (dir: string) => (JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { ramdiskPart: { from: string } }).ramdiskPart.from;
    expect([ramdiskPart(out), ramdiskPart(b)]).toEqual(["rootfs stage", "compressed here"]);
    // Filed only when what it depends on did not change while it ran.
    if (proofKey(await proofParts()) === proofId) await recordProof("kernel-clean-rebuild", proofId);
  }, 3_600_000);
});

describe("interrupting kiln qemu", () => {
  it("leaves no QEMU process behind", async () => {
    const child = execa("node", [join(import.meta.dirname, "..", "..", "bin", "kiln.js"), "qemu", "--board", "qemu-virt", "--image", image, "--instance", "killme", "--timeout", "300"], {
      env: stateEnv(),
      reject: false,
    });
    const info = join(testWork(), "state", "qemu", "killme", "instance.json");
    for (let i = 0; i < 100 && !existsSync(info); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(info)).toBe(true);
    const pid = (JSON.parse(readFileSync(info, "utf8")) as { pid: number }).pid;
    child.kill("SIGTERM");
    const res = await child;
    expect(res.exitCode).not.toBe(0);
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 100));
      } catch {
        alive = false;
      }
    }
    expect(alive).toBe(false);
  }, 120_000);
});
