/** Every bad input gets one clear error: what was wrong, where, and what to do. */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { kiln, repoRoot, testWork } from "../support/cli.js";

function boardDir(name: string, patch: (yaml: string) => string): string {
  const root = join(testWork(), `boards-${name}`);
  mkdirSync(join(root, name), { recursive: true });
  cpSync(join(repoRoot, "board", "openblocks-ax3", "kernel.config"), join(root, name, "kernel.config"));
  writeFileSync(join(root, name, "board.yaml"), patch(readFileSync(join(repoRoot, "board", "openblocks-ax3", "board.yaml"), "utf8")));
  return root;
}

describe("bad input", () => {
  it("unknown board: suggests the closest and lists the boards", async () => {
    const r = await kiln(["config", "--board", "openblocks-ax4"]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/unknown board "openblocks-ax4" \(did you mean "openblocks-ax3"\?\)/);
    expect(r.stderr).toMatch(/qemu-virt/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it("unknown fragment name and missing fragment file", async () => {
    const a = await kiln(["config", "--board", "qemu-virt", "--fragment", "lxcc", "--out", join(testWork(), "bad")]);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/unknown fragment "lxcc" \(did you mean "lxc"\?\)/);
    const b = await kiln(["config", "--board", "qemu-virt", "--fragment", "/nonexistent/x.config", "--out", join(testWork(), "bad")]);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/fragment file \/nonexistent\/x.config does not exist/);
  });

  it("a fragment line that is not a config line: file and line", async () => {
    const frag = join(testWork(), "bad-line.config");
    writeFileSync(frag, "# fine\nCONFIG_VETH=y\nCONFIG_MACVLAN=maybe\n");
    const r = await kiln(["config", "--board", "qemu-virt", "--fragment", frag, "--out", join(testWork(), "bad")], {});
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${frag}:3: not a kernel config line: "CONFIG_MACVLAN=maybe"`);
  }, 120_000);

  it("kernel source that is not a kernel tree", async () => {
    const dir = join(testWork(), "not-a-tree");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "README"), "hello\n");
    const r = await kiln(["config", "--board", "qemu-virt", "--kernel-src", dir, "--out", join(testWork(), "bad")]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/is not a kernel source tree for ARCH=arm: missing Makefile, Kconfig, arch\/arm\/Kconfig/);
  });

  it("missing cross compiler names the package", async () => {
    const root = boardDir("nocc", (y) => y.replace("crossCompile: arm-linux-gnueabihf-", "crossCompile: armv0-nowhere-linux-").replace("toolchainPackage: gcc-arm-linux-gnueabihf", "toolchainPackage: gcc-armv0-nowhere"));
    const r = await kiln(["config", "--board", "nocc", "--out", join(testWork(), "bad")], { env: { KILN_BOARD_DIR: root } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/armv0-nowhere-linux-gcc not found/);
    expect(r.stderr).toMatch(/apt-get install gcc-armv0-nowhere/);
  });

  it("a defconfig the tree does not have lists the ones it has", async () => {
    const root = boardDir("nodef", (y) => y.replace("defconfig: [mvebu_v7_defconfig, obsax3_defconfig]", "defconfig: [obsax9_defconfig]"));
    const r = await kiln(["config", "--board", "nodef", "--out", join(testWork(), "bad")], { env: { KILN_BOARD_DIR: root } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/none of the board's defconfigs \(obsax9_defconfig\) exists/);
    expect(r.stderr).toMatch(/mvebu_v7_defconfig/);
  }, 120_000);

  it("an invalid board definition lists each problem with its path", async () => {
    const root = boardDir("broken", (y) => y.replace("loadAddress: 0x8000", "loadAddress: somewhere").replace("arch: arm", "arch: sparc"));
    const r = await kiln(["config", "--board", "broken"], { env: { KILN_BOARD_DIR: root } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/invalid board definition/);
    expect(r.stderr).toMatch(/- arch:/);
    expect(r.stderr).toMatch(/- image\.loadAddress:/);
  });

  it("kiln check on a file that is not a config", async () => {
    const f = join(testWork(), "not-config.txt");
    writeFileSync(f, "hello world\n");
    const r = await kiln(["check", "--config", f]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/not a kernel config line/);
  });
});
