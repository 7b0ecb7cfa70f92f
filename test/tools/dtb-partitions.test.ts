/**
 * The partitions node is written by the real fdtput into a real DTB compiled
 * from a fixture, and read back with the real dtc: the text a kernel developer
 * would read, compared whole.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { PlacedPartition } from "../../src/board/flash-layout.js";
import { InputError } from "../../src/errors.js";
import { StageLog } from "../../src/exec.js";
import { fdtNodes, flashNode, writeDtbPartitions } from "../../src/image/dtb-partitions.js";
import { repoRoot } from "../support/cli.js";

const fixtures = join(repoRoot, "test", "fixtures", "dtb");
let dir: string;
let dtb: string;
let log: StageLog;

const dtc = (args: string[]): string => execFileSync("dtc", ["-q", ...args], { encoding: "utf8" });
const compile = (dts: string, out: string): void => void dtc(["-I", "dts", "-O", "dtb", "-o", out, dts]);
const decompile = (file: string): string => dtc(["-I", "dtb", "-O", "dts", file]);

const MiB = 1024 * 1024;
const layout: PlacedPartition[] = [
  { name: "Test Uboot", offset: 0, size: MiB, readOnly: true },
  { name: "Test Uboot Configuration Data", offset: MiB, size: 256 * 1024, readOnly: true },
  { name: "Test Kernel Image", offset: 0x4000000, size: 48 * MiB, readOnly: false },
  { name: "Test User Flash", offset: 0x7000000, size: 16 * MiB, readOnly: false },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-dtb-"));
  dtb = join(dir, "board.dtb");
  compile(join(fixtures, "board.dts"), dtb);
  log = new StageLog(join(dir, "image.log"));
});

describe("flash partitions in the DTB", () => {
  it("writes a fixed-partitions node under the cfi-flash node; dtc reads back the expected tree", async () => {
    const out = join(dir, "board.partitions.dtb");
    const node = await writeDtbPartitions(dtb, out, { node: undefined, partitions: layout }, log);
    expect(node).toBe("/soc/nor@0");
    expect(decompile(out)).toBe(readFileSync(join(fixtures, "board-partitions.dts"), "utf8"));
    // The source DTB is the kernel's (or QEMU's) own and stays as it was.
    expect(decompile(dtb)).not.toMatch(/partitions/);
  });

  it("replaces a partitions node that is already there", async () => {
    const first = join(dir, "first.dtb");
    await writeDtbPartitions(dtb, first, { node: undefined, partitions: [{ name: "old", offset: 0, size: 0x8000000, readOnly: false }] }, log);
    const again = join(dir, "again.dtb");
    await writeDtbPartitions(first, again, { node: "/soc/nor@0", partitions: layout }, log);
    expect(decompile(again)).toBe(readFileSync(join(fixtures, "board-partitions.dts"), "utf8"));
  });

  it("lists nodes with their compatible strings", () => {
    const nodes = fdtNodes(readFileSync(dtb));
    expect(nodes.map((n) => n.path)).toEqual(["/", "/soc", "/soc/nor@0", "/soc/serial@1000"]);
    expect(nodes.find((n) => n.path === "/soc/nor@0")?.compatible).toEqual(["cfi-flash"]);
  });

  it("needs the flash node named when there is none or more than one", () => {
    const two = join(dir, "two.dts");
    writeFileSync(two, readFileSync(join(fixtures, "board.dts"), "utf8").replace('compatible = "ns16550a"', 'compatible = "cfi-flash"'));
    compile(two, join(dir, "two.dtb"));
    const nodes = fdtNodes(readFileSync(join(dir, "two.dtb")));
    expect(() => flashNode(nodes, undefined, "two.dtb")).toThrow(/two\.dtb has 2 nodes compatible "cfi-flash": \/soc\/nor@0, \/soc\/serial@1000/);
    expect(flashNode(nodes, "/soc/serial@1000", "two.dtb")).toBe("/soc/serial@1000");
    const none = fdtNodes(readFileSync(dtb)).filter((n) => n.path !== "/soc/nor@0");
    const err = (() => {
      try {
        flashNode(none, undefined, "x.dtb");
      } catch (e) {
        return e as InputError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InputError);
    expect(err?.message).toMatch(/x\.dtb has no node compatible "cfi-flash"/);
    expect(err?.hint).toMatch(/flash\.node/);
  });

  it("refuses a flash node the DTB does not have, and a file that is not a DTB", async () => {
    await expect(writeDtbPartitions(dtb, join(dir, "x.dtb"), { node: "/flash@0", partitions: layout }, log)).rejects.toThrow(/flash\.node \/flash@0 is not a node of .*board\.dtb/);
    const notDtb = join(dir, "not.dtb");
    copyFileSync(join(fixtures, "board.dts"), notDtb);
    await expect(writeDtbPartitions(notDtb, join(dir, "y.dtb"), { node: undefined, partitions: layout }, log)).rejects.toThrow(/not a flattened device tree/);
  });
});
