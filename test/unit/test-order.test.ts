import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BUILDS_FIRST, inLanes, waitsForShared } from "../support/sequencer.js";

describe("the order test files start in", () => {
  /** A file as the sequencer sees it; `waits` as its imports would say. */
  const f = (path: string, waits = false) => ({ file: path, path, waits });

  it("the kernel builds' files first, then the files that need no build nor board, then those that wait for one; each lane in vitest's order", () => {
    const vitestOrder = [
      f("test/qemu/trial.test.ts", true),
      f("test/e2e/flash-ssh.test.ts"),
      f("test/qemu/qemu-board.test.ts", true),
      f("test/e2e/build.test.ts", true),
      f("test/e2e/deploy-ssh.test.ts"),
      f("test/e2e/ax3-qemu.test.ts", true),
      f("test/tools/uimage.test.ts"),
      f("test/qemu/bench.test.ts", true),
    ];
    expect(inLanes(vitestOrder)).toEqual([
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
    const tools = [f("test/tools/uimage.test.ts"), f("test/tools/qemu.test.ts"), f("test/tools/trial.test.ts")];
    expect(inLanes(tools)).toEqual(tools.map((t) => t.file));
    const qemu = [f("test/qemu/trial.test.ts", true), f("test/qemu/bench.test.ts", true)];
    expect(inLanes(qemu)).toEqual(qemu.map((t) => t.file));
  });

  it("a file waits when it imports the support for shared builds or boards, whatever its folder", () => {
    expect(waitsForShared('import { x } from "vitest";\nimport { buildVirt, startVirt } from "../support/virt-board.js";\n')).toBe(true);
    expect(waitsForShared('import { withSharedDir } from "../support/shared-dir.js";\n')).toBe(true);
    expect(waitsForShared('import { kiln } from "../support/cli.js";\nimport { startSshd } from "../support/sshd.js";\n')).toBe(false);
    // Named in a comment or a string is not an import.
    expect(waitsForShared('// unlike "../support/virt-board.js", this file boots nothing\n')).toBe(false);
  });

  it("sorts this repository's files as the lanes say: every file of the QEMU tier and the AX3 build's files wait", () => {
    const waits = (p: string) => waitsForShared(readFileSync(p, "utf8"));
    for (const p of ["test/qemu/trial.test.ts", "test/qemu/rootfs.test.ts", "test/qemu/bench.test.ts", "test/e2e/build.test.ts", "test/e2e/ax3-qemu.test.ts"]) expect(waits(p), p).toBe(true);
    for (const p of ["test/e2e/flash-ssh.test.ts", "test/e2e/config.test.ts", "test/tools/flashcfg.test.ts"]) expect(waits(p), p).toBe(false);
  });

  it("names files that exist: a renamed file would silently lose its place", () => {
    for (const p of BUILDS_FIRST) expect(existsSync(p), p).toBe(true);
  });
});
