/** Every bad input gets one clear error: what was wrong, where, and what to do. */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

  it("root's password: never on the command line; a missing or empty file is refused before anything runs", async () => {
    const out = join(testWork(), "pw-out");
    const onLine = await kiln(["rootfs", "--board", "qemu-virt", "--root-password", "secret", "--out", out]);
    expect(onLine.exitCode).not.toBe(0);
    expect(onLine.stderr).toMatch(/visible to every user in ps/);
    expect(onLine.stderr).toMatch(/--root-password-file/);
    const missing = await kiln(["rootfs", "--board", "qemu-virt", "--root-password-file", "no-such-file", "--out", out], { cwd: testWork() });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`--root-password-file ${join(testWork(), "no-such-file")}: no such file`);
    writeFileSync(join(testWork(), "empty-pw"), "\nsecond line\n");
    const empty = await kiln(["rootfs", "--board", "qemu-virt", "--root-password-file", "empty-pw", "--out", out], { cwd: testWork() });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toMatch(/the first line is empty/);
    const noPassword = await kiln(["rootfs", "--board", "qemu-virt", "--ssh-password-login", "--out", out]);
    expect(noPassword.exitCode).toBe(2);
    expect(noPassword.stderr).toMatch(/--ssh-password-login needs a password, and root has none/);
    expect(existsSync(out)).toBe(false);
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

  it("flash partitions in board data: where the problem is and what to do", async () => {
    const root = boardDir("badparts", (y) =>
      y.replace("    - { name: OpenBlocks A series Java Image }\n", "    - { name: OpenBlocks A series Java Image }\n    - { name: OpenBlocks A series Uboot, offset: 0x0, size: 1MiB }\n").replace("  partition: OpenBlocks A series Kernel Image\n", "  partition: OpenBlocks A series Kernel\n"),
    );
    const r = await kiln(["build", "--board", "badparts"], { env: { KILN_BOARD_DIR: root } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/- flash\.partitions\.7\.name: "OpenBlocks A series Uboot" is named twice/);
    expect(r.stderr).toMatch(/- flash\.partition: "OpenBlocks A series Kernel" is not among the partitions/);
  });

  describe("a probed unit that does not match the board (kiln build --unit), refused before any stage runs", () => {
    const names = ["Uboot", "Uboot Configuration Data", "Diag program Image", "Configuration Data", "Kernel Image", "User Flash", "Java Image"].map((n) => `OpenBlocks A series ${n}`);
    function unit(name: string, over: { model?: string; mtd?: string[] }): string {
      const dir = join(testWork(), "units", name);
      mkdirSync(dir, { recursive: true });
      const profile = {
        hostKey: `SHA256:${name}`,
        host: name,
        port: 22,
        probedAt: "2026-11-25T00:00:00Z",
        model: over.model ?? "PlatHome OpenBlocks AX3-4 board",
        release: "3.0.6",
        mtd: (over.mtd ?? names).map((n, i) => ({ dev: `mtd${i}`, size: 16 * 1024 * 1024, eraseSize: 131072, name: n })),
        uploadDir: { path: "/tmp" },
        flashcfg: { kind: "vendor" },
      };
      writeFileSync(join(dir, "profile.json"), JSON.stringify(profile));
      return join(dir, "profile.json");
    }
    const build = (file: string) => kiln(["build", "--board", "openblocks-ax3", "--unit", file, "--out", join(testWork(), "unit-out")]);

    it("partition names that differ: found and expected", async () => {
      const r = await build(unit("renamed", { mtd: names.map((n) => n.replace("Java Image", "Spare")) }));
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/the flash partitions of unit renamed:22 .* do not match the board data \(layout default\): found .*"OpenBlocks A series Spare", expected .*"OpenBlocks A series Java Image"/);
      expect(r.stderr).toMatch(/hint: correct flash\.partitions in board\/openblocks-ax3\/board\.yaml/);
      expect(existsSync(join(testWork(), "unit-out"))).toBe(false);
    });

    it("the kernel-image partition missing from /proc/mtd", async () => {
      const r = await build(unit("mainline", { mtd: ["f1000000.nor"] }));
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/unit mainline:22 .* has no "OpenBlocks A series Kernel Image" partition in \/proc\/mtd, the partition that takes the kernel image \(layout default\); found "f1000000\.nor"/);
    });

    it("another board (wrong model)", async () => {
      // Not linux,dummy-virt: that is the AX3 itself under QEMU (qemu.identity), which a unit may be.
      const r = await build(unit("mirabox", { model: "Globalscale Technologies Mirabox" }));
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/unit mirabox:22 .* is not a openblocks-ax3: found "Globalscale Technologies Mirabox", expected "PlatHome OpenBlocks AX3-4 board, or linux,dummy-virt under QEMU"/);
    });

    it("a unit never probed, and a layout the board does not have", async () => {
      const r = await kiln(["build", "--board", "openblocks-ax3", "--unit", "ax3-99"], { env: { KILN_STATE_DIR: join(testWork(), "empty-state") } });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/no probe profile for unit "ax3-99"/);
      expect(r.stderr).toMatch(/hint: probe it first: kiln probe --host ax3-99/);
      const l = await kiln(["image", "--board", "qemu-virt", "--flash-layout", "vendor"]);
      expect(l.exitCode).toBe(2);
      expect(l.stderr).toMatch(/board qemu-virt has no flash layout "vendor"/);
      expect(l.stderr).toMatch(/its layouts: default, ax3-names/);
    });
  });
});
