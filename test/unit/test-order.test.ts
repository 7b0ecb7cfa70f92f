import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BUILDS_FIRST, inLanes } from "../support/sequencer.js";

describe("the order test files start in", () => {
  const id = (f: string) => f;

  it("the kernel builds' files first, then the files that need no build nor board, then those that wait for one; each lane in vitest's order", () => {
    const vitestOrder = [
      "test/qemu/trial.test.ts",
      "test/e2e/flash-ssh.test.ts",
      "test/qemu/qemu-board.test.ts",
      "test/e2e/build.test.ts",
      "test/e2e/deploy-ssh.test.ts",
      "test/e2e/ax3-qemu.test.ts",
      "test/tools/uimage.test.ts",
      "test/qemu/bench.test.ts",
    ];
    expect(inLanes(vitestOrder, id)).toEqual([
      "test/e2e/ax3-qemu.test.ts",
      "test/qemu/qemu-board.test.ts",
      "test/e2e/flash-ssh.test.ts",
      "test/e2e/deploy-ssh.test.ts",
      "test/tools/uimage.test.ts",
      "test/qemu/trial.test.ts",
      "test/e2e/build.test.ts",
      "test/qemu/bench.test.ts",
    ]);
  });

  it("leaves a run of one lane as vitest ordered it (a single tier, chosen files)", () => {
    const tools = ["test/tools/uimage.test.ts", "test/tools/qemu.test.ts", "test/tools/trial.test.ts"];
    expect(inLanes(tools, id)).toEqual(tools);
    const qemu = ["test/qemu/trial.test.ts", "test/qemu/bench.test.ts"];
    expect(inLanes(qemu, id)).toEqual(qemu);
  });

  it("names files that exist: a renamed file would silently lose its place", () => {
    for (const f of BUILDS_FIRST) expect(existsSync(f), f).toBe(true);
    expect(existsSync("test/e2e/build.test.ts")).toBe(true);
  });
});
