import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listBoards, loadBoard } from "../../src/board/load.js";
import { projectRoot } from "../../src/paths.js";
import { parseSize } from "../../src/board/schema.js";
import { readKernelVersion } from "../../src/kernel/source.js";
import { versionAtLeast } from "../../src/versions.js";
import { mergeConfigs } from "../../src/kconfig/stage.js";

describe("boards", () => {
  it("every shipped board validates", async () => {
    const names = await listBoards();
    expect(names).toEqual(expect.arrayContaining(["openblocks-ax3", "qemu-virt"]));
    for (const n of names) await expect(loadBoard(n)).resolves.toMatchObject({ name: n });
  });

  it("the AX3 board matches the seed's mkimage line", async () => {
    const b = await loadBoard("openblocks-ax3");
    expect(b.image).toMatchObject({ kernelCompression: "gzip", ramdiskCompression: "lzma", loadAddress: 0x8000, entryAddress: 0x8000, type: "multi" });
    expect(b.kernel.appendDtb).toBe(true);
    expect(b.flash?.maxImageSize).toBeUndefined();
    expect(b.fragmentFile).toMatch(/openblocks-ax3\/kernel\.config$/);
  });

  it("reports every schema problem with its path", async () => {
    const root = mkdtempSync(join(tmpdir(), "kiln-board-"));
    mkdirSync(join(root, "bad"));
    writeFileSync(join(root, "bad", "board.yaml"), "description: x\narch: arm\nkernel:\n  defconfig: []\n");
    await expect(loadBoard("bad", root)).rejects.toThrow(/crossCompile[\s\S]*kernel\.source[\s\S]*kernel\.defconfig/);
    writeFileSync(join(root, "bad", "board.yaml"), "description: [unclosed\n");
    await expect(loadBoard("bad", root)).rejects.toThrow(/not valid YAML/);
    await expect(loadBoard("../etc", root)).rejects.toThrow(/unknown board/);
  });

  it("refuses board data that would reach a shell or ifupdown on the board: the interface and module names", async () => {
    const root = mkdtempSync(join(tmpdir(), "kiln-board-"));
    const shipped = readFileSync(join(projectRoot, "board", "qemu-virt", "board.yaml"), "utf8");
    const variant = async (name: string, from: string, to: string) => {
      expect(shipped).toContain(from);
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, "board.yaml"), shipped.replace(from, to));
      copyFileSync(join(projectRoot, "board", "qemu-virt", "kernel.config"), join(root, name, "kernel.config"));
      return loadBoard(name, root);
    };
    await expect(variant("same", "interface: eth0", "interface: eth0")).resolves.toMatchObject({ rootfs: { interface: "eth0" } });
    await expect(variant("iface-cmd", "interface: eth0", 'interface: "eth0; reboot"')).rejects.toThrow(/rootfs\.interface[\s\S]*a network interface name/);
    await expect(variant("iface-long", "interface: eth0", "interface: a234567890123456")).rejects.toThrow(/rootfs\.interface/);
    await expect(variant("mod-space", "modules: [veth,", 'modules: ["veth bridge",')).rejects.toThrow(/rootfs\.modules\.0[\s\S]*a kernel module name/);
    await expect(variant("mod-path", "modules: [veth,", 'modules: ["../x",')).rejects.toThrow(/rootfs\.modules\.0/);
  });

  it("sizes", () => {
    expect(parseSize("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSize("512K")).toBe(512 * 1024);
    expect(parseSize("1000")).toBe(1000);
  });
});

describe("kernel source", () => {
  it("reads the version from the top Makefile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-mk-"));
    writeFileSync(join(dir, "Makefile"), "# SPDX\nVERSION = 3\nPATCHLEVEL = 0\nSUBLEVEL = 6\nEXTRAVERSION = -rc1\nNAME = x\n");
    expect(await readKernelVersion(dir)).toBe("3.0.6-rc1");
  });

  it("compares versions numerically", () => {
    expect(versionAtLeast("6.1.192", "5.8")).toBe(true);
    expect(versionAtLeast("3.0.6", "3.7")).toBe(false);
    expect(versionAtLeast("4.10", "4.9")).toBe(true);
    expect(versionAtLeast("2.6.33", "2.6.33")).toBe(true);
  });

  it("merges like merge_config.sh: later wins, order of first appearance", () => {
    expect(mergeConfigs(["CONFIG_A=y\nCONFIG_B=m\n", "# CONFIG_A is not set\nCONFIG_C=\"x\"\n"])).toBe(
      '# CONFIG_A is not set\nCONFIG_B=m\nCONFIG_C="x"\n',
    );
  });
});
