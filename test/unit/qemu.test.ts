import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { BANK_SIZE, flashImage, instancePaths, writeBank } from "../../src/qemu/instance.js";
import { bootScriptText, qemuArgs, requireQemuBoard } from "../../src/qemu/machine.js";

describe("the emulated board", () => {
  it("boots the uImage in place from the second bank, never saving the environment", async () => {
    const board = requireQemuBoard(await loadBoard("qemu-virt"));
    const script = bootScriptText(board);
    expect(script).toMatch(/^setenv fdt_high$/m);
    expect(script).toMatch(/^setenv initrd_high$/m);
    expect(script).toMatch(/^bootm 0x4000000$/m);
    expect(script).toMatch(/setenv bootargs ".*console=ttyAMA0/);
    // Partitions come from the DTB: a command-line mtdparts would override them.
    expect(script).not.toMatch(/mtdparts=/);
    expect(script).not.toMatch(/saveenv/);
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

  it("refuses a board that is not emulated", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    expect(() => requireQemuBoard(ax3)).toThrow(/not an emulated board/);
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
