import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BUILDS_FIRST, buildsFirst } from "../support/sequencer.js";

describe("the order test files start in", () => {
  const id = (f: string) => f;

  it("puts the files that make the kernel builds first, in their order, and keeps the others' order", () => {
    const vitestOrder = ["test/e2e/flash-ssh.test.ts", "test/qemu/qemu-board.test.ts", "test/e2e/deploy-ssh.test.ts", "test/e2e/ax3-qemu.test.ts", "test/qemu/trial.test.ts"];
    expect(buildsFirst(vitestOrder, id)).toEqual(["test/e2e/ax3-qemu.test.ts", "test/qemu/qemu-board.test.ts", "test/e2e/flash-ssh.test.ts", "test/e2e/deploy-ssh.test.ts", "test/qemu/trial.test.ts"]);
  });

  it("leaves a run without those files as vitest ordered it (a single tier, a chosen file)", () => {
    const tools = ["test/tools/uimage.test.ts", "test/tools/qemu.test.ts", "test/tools/trial.test.ts"];
    expect(buildsFirst(tools, id)).toEqual(tools);
    expect(buildsFirst(["test/qemu/trial.test.ts", "test/qemu/qemu-board.test.ts"], id)).toEqual(["test/qemu/qemu-board.test.ts", "test/qemu/trial.test.ts"]);
  });

  it("names files that exist: a renamed file would silently lose its place", () => {
    for (const f of BUILDS_FIRST) expect(existsSync(f), f).toBe(true);
  });
});
