import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { BANK_SIZE, flashImage, instancePaths, writeBank } from "../../src/qemu/instance.js";
import { bootCommands, prepareFlash, prepareUBootDtb, qemuArgs, requireQemuBoard } from "../../src/qemu/machine.js";
import { ensureDataDisk } from "../../src/qemu/data-disk.js";
import { StageLog } from "../../src/exec.js";

describe("the emulated board", () => {
  it("boots the uImage in place from the second bank, never saving the environment", async () => {
    const board = requireQemuBoard(await loadBoard("qemu-virt"));
    const cmds = bootCommands(board);
    expect(cmds).toContain("setenv fdt_high");
    expect(cmds).toContain("setenv initrd_high");
    expect(cmds).toContain("bootm 0x4000000");
    expect(cmds.join("\n")).toMatch(/setenv bootargs ".*console=ttyAMA0/);
    // Partitions come from the DTB: a command-line mtdparts would override them.
    expect(cmds.join("\n")).not.toMatch(/mtdparts=|saveenv/);
  });

  it("hands U-Boot QEMU's own device tree with the boot command and no countdown in /config, and nothing else changed", async () => {
    const board = requireQemuBoard(await loadBoard("qemu-virt"));
    const dir = mkdtempSync(join(tmpdir(), "kiln-uboot-dtb-"));
    const paths = { ...instancePaths("unit"), dir, ubootDtb: join(dir, "u-boot.dtb") };
    const dtb = await prepareUBootDtb(board, paths, new StageLog(join(dir, "dtb.log")));
    expect(dtb).toBe(paths.ubootDtb);
    const get = (node: string, prop: string, type = "s") => execFileSync("fdtget", ["-t", type, dtb, node, prop]).toString().trim();
    expect(get("/config", "bootcmd")).toBe(bootCommands(board).join("; "));
    expect(get("/config", "bootdelay", "i")).toBe("0");
    expect(get("/", "compatible")).toBe("linux,dummy-virt");
    // The machine's dump with /config added: the same tree otherwise (QEMU's 512 MiB at 0x40000000, its flash, its UART).
    const dts = (f: string) => execFileSync("dtc", ["-q", "-I", "dtb", "-O", "dts", f]).toString();
    const withoutConfig = join(dir, "without-config.dtb");
    copyFileSync(dtb, withoutConfig);
    execFileSync("fdtput", ["-r", withoutConfig, "/config"]);
    expect(dts(withoutConfig)).toBe(dts(join(dir, "machine.dtb")));
    expect(get("/memory@40000000", "reg", "x")).toBe("0 40000000 0 20000000");
    const args = qemuArgs(board, paths, 2222).join(" ");
    expect(args).toContain(`-dtb ${dtb}`);
    expect(args).not.toMatch(/tftp=/);
  });

  it("the AX3 under QEMU: 1 GiB, its ramdisk and DTB kept below the kernel's lowmem, a data disk when the instance has one", async () => {
    const ax3 = requireQemuBoard(await loadBoard("openblocks-ax3"));
    expect(ax3.qemu.memory).toBe("1024");
    const cmds = bootCommands(ax3);
    expect(cmds).toContain("setenv initrd_high 0x6c000000");
    expect(cmds).toContain("setenv fdt_high 0x6c000000");
    const dir = mkdtempSync(join(tmpdir(), "kiln-disk-"));
    const paths = { ...instancePaths("unit-ax3"), dataDisk: join(dir, "data.img") };
    expect(qemuArgs(ax3, paths, 2222).join(" ")).not.toContain("virtio-blk-device");
    const log = new StageLog(join(dir, "disk.log"));
    const small = { ...ax3, qemu: { ...ax3.qemu, disk: { size: 16 * 1024 * 1024 } } };
    expect(await ensureDataDisk(small, paths, log)).toMatchObject({ made: true, label: "kiln-data" });
    expect(execFileSync("blkid", ["-o", "value", "-s", "LABEL", paths.dataDisk]).toString().trim()).toBe("kiln-data");
    expect(qemuArgs(ax3, paths, 2222).join(" ")).toContain(`-drive if=none,id=data,format=raw,file=${paths.dataDisk} -device virtio-blk-device,drive=data`);
    // An existing disk is never formatted again: what is on it stays.
    writeFileSync(join(dir, "marker"), "x");
    execFileSync("debugfs", ["-w", "-R", `write ${join(dir, "marker")} marker`, paths.dataDisk], { stdio: "ignore" });
    expect(await ensureDataDisk(small, paths, log)).toMatchObject({ made: false });
    expect(execFileSync("debugfs", ["-R", "ls", paths.dataDisk], { stdio: ["ignore", "pipe", "ignore"] }).toString()).toContain("marker");
    const { rootfs: _, ...noData } = ax3;
    await expect(ensureDataDisk({ ...noData, rootfs: undefined }, { ...paths, dataDisk: join(dir, "other.img") }, log)).rejects.toThrow(/names no data filesystem/);
  });

  it("runs both flash banks, SSH on loopback only, the console to a log", async () => {
    const board = requireQemuBoard(await loadBoard("qemu-virt"));
    const paths = instancePaths("unit");
    const args = qemuArgs(board, paths, 2222).join(" ");
    expect(args).toContain(`-drive if=pflash,format=raw,file=${paths.flash0}`);
    expect(args).toContain(`-drive if=pflash,format=raw,file=${paths.flash1}`);
    expect(args).toContain("hostfwd=tcp:127.0.0.1:2222-:22");
    expect(args).toContain(`logfile=${paths.console}`);
    expect(args).toContain("-M virt,highmem=off");
  });

  it("an --image that does not exist is refused before the instance's flash is touched", async () => {
    const board = requireQemuBoard(await loadBoard("qemu-virt"));
    const dir = mkdtempSync(join(tmpdir(), "kiln-noimage-"));
    const paths = { ...instancePaths("unit"), dir, flash0: join(dir, "flash0.img"), flash1: join(dir, "flash1.img"), ubootDtb: join(dir, "u-boot.dtb") };
    await writeBank(paths.flash1, Buffer.from("the image in flash"));
    const before = readFileSync(paths.flash1);
    await expect(prepareFlash(board, paths, join(dir, "missing.uImage"), new StageLog(join(dir, "q.log")))).rejects.toThrow(/image .*missing\.uImage does not exist/);
    expect(readFileSync(paths.flash1).equals(before)).toBe(true);
    expect(existsSync(paths.flash0)).toBe(false);
  });

  it("refuses a board that is not emulated", async () => {
    const { qemu: _, ...real } = await loadBoard("openblocks-ax3");
    expect(() => requireQemuBoard(real)).toThrow(/not an emulated board/);
    expect(() => instancePaths("../x")).toThrow(/instance name/);
  });

  it("flash banks are exactly 64 MiB of erased flash around the payload, and re-flashing keeps the size", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-bank-"));
    const paths = { ...instancePaths("unit"), flash1: join(dir, "flash1.img") };
    await writeBank(paths.flash1, Buffer.from("first image, longer"));
    await flashImage(paths, Buffer.from("second"));
    const bank = readFileSync(paths.flash1);
    expect(statSync(paths.flash1).size).toBe(BANK_SIZE);
    expect(bank.subarray(0, 6).toString()).toBe("second");
    expect(bank[6]).toBe(0xff);
    expect(bank[BANK_SIZE - 1]).toBe(0xff);
    await expect(writeBank(join(dir, "big.img"), Buffer.alloc(BANK_SIZE + 1))).rejects.toThrow(/do not fit/);
  });
});

describe("the console socket path", () => {
  it("stays where the instance is when it fits a UNIX socket address, else moves to a short stable name", async () => {
    const { socketPath } = await import("../../src/qemu/instance.js");
    expect(socketPath("/root/.local/state/kiln/qemu/main/console.sock")).toBe("/root/.local/state/kiln/qemu/main/console.sock");
    const deep = `/tmp/${"x".repeat(120)}/qemu/killme/console.sock`;
    const moved = socketPath(deep);
    expect(moved).toMatch(/^\/tmp\/kiln-[0-9a-f]{16}\.sock$/);
    expect(socketPath(deep)).toBe(moved);
    expect(socketPath(deep.replace("killme", "other"))).not.toBe(moved);
  });
});
