/**
 * The one stage runner, with a stage made for the test (the seam): skip, run,
 * force, failure that leaves the last good result, the content-addressed
 * cache across output directories, and the output directory's lock.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Board } from "../../src/board/schema.js";
import type { BuildContext, Stage } from "../../src/stage/contract.js";
import { acquireLock, LockedError, lockFile, releaseLock } from "../../src/stage/lock.js";
import { requireDiskSpace } from "../../src/stage/disk-space.js";
import { runStage } from "../../src/stage/runner.js";

const root = mkdtempSync(join(tmpdir(), "kiln-runner-"));
const savedCache = process.env.KILN_CACHE_DIR;
beforeAll(() => {
  process.env.KILN_CACHE_DIR = join(root, "cache");
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.KILN_CACHE_DIR;
  else process.env.KILN_CACHE_DIR = savedCache;
  rmSync(root, { recursive: true, force: true });
});

function ctx(outDir: string, force: BuildContext["force"] = []): BuildContext {
  return { board: { name: "test" } as Board, outDir, extraFragments: [], allowMissing: false, force, quiet: true };
}

/** A stage that writes its input into out/thing.txt and a manifest naming it by absolute path. */
function stage(input: { value: string; fail?: "before" | "after-write" }, counter: { runs: number }): Stage<object, string> {
  return {
    name: "kernel",
    logName: "test.log",
    cacheable: true,
    diskMiB: 1,
    title: () => "test stage",
    preflight: async () => undefined,
    inputs: async () => ({ value: input.value }),
    outputs: (c) => [join(c.outDir, "thing.txt"), join(c.outDir, "thing.json")],
    async run(c) {
      counter.runs++;
      if (input.fail === "before") throw new Error("failed before writing");
      writeFileSync(join(c.outDir, "thing.txt"), input.value);
      writeFileSync(join(c.outDir, "thing.json"), JSON.stringify({ file: join(c.outDir, "thing.txt") }));
      if (input.fail === "after-write") throw new Error("failed after writing");
    },
    result: async (c) => readFileSync(join(c.outDir, "thing.txt"), "utf8"),
  };
}

describe("runStage", () => {
  const a = join(root, "a");
  const b = join(root, "nested", "b");
  mkdirSync(a, { recursive: true });

  it("runs a stage never built, then skips it while nothing changed", async () => {
    const n = { runs: 0 };
    const first = await runStage(stage({ value: "one" }, n), ctx(a), {});
    expect(first.outcome).toMatchObject({ ran: true, how: "built", why: ["never built"] });
    expect(first.result).toBe("one");
    const again = await runStage(stage({ value: "one" }, n), ctx(a), {});
    expect(again.outcome).toMatchObject({ ran: false, how: "up to date", why: [] });
    expect(n.runs).toBe(1);
  });

  it("--force runs it although nothing changed", async () => {
    const n = { runs: 0 };
    const r = await runStage(stage({ value: "one" }, n), ctx(a, ["kernel"]), {});
    expect(r.outcome).toMatchObject({ how: "built", why: ["--force"] });
    expect(n.runs).toBe(1);
  });

  it("a failed run leaves the last good outputs byte for byte, and the next run still skips", async () => {
    const before = readFileSync(join(a, "thing.txt"));
    const n = { runs: 0 };
    await expect(runStage(stage({ value: "two", fail: "after-write" }, n), ctx(a), {})).rejects.toThrow(/failed after writing/);
    expect(readFileSync(join(a, "thing.txt")).equals(before)).toBe(true);
    const r = await runStage(stage({ value: "one" }, n), ctx(a), {});
    expect(r.outcome.how).toBe("up to date");
  });

  it("an output changed behind kiln's back makes the stage run again, and says so", async () => {
    writeFileSync(join(a, "thing.txt"), "edited by hand");
    const n = { runs: 0 };
    const r = await runStage(stage({ value: "one" }, n), ctx(a, []), {});
    expect(r.outcome.why).toEqual(["output thing.txt changed since it was built"]);
    // the cache holds what "one" made, so the edit is undone without running the stage
    expect(r.outcome.how).toBe("cache");
    expect(readFileSync(join(a, "thing.txt"), "utf8")).toBe("one");
  });

  it("another output directory takes the same inputs from the cache, with its own paths in JSON", async () => {
    const n = { runs: 0 };
    const r = await runStage(stage({ value: "one" }, n), ctx(b), {});
    expect(r.outcome.how).toBe("cache");
    expect(n.runs).toBe(0);
    expect(readFileSync(join(b, "thing.txt"), "utf8")).toBe("one");
    expect(JSON.parse(readFileSync(join(b, "thing.json"), "utf8"))).toEqual({ file: join(b, "thing.txt") });
    const again = await runStage(stage({ value: "one" }, n), ctx(b), {});
    expect(again.outcome.how).toBe("up to date");
  });

  it("an up-to-date result the cache lost is filed again", async () => {
    rmSync(join(root, "cache", "stages"), { recursive: true, force: true });
    const n = { runs: 0 };
    expect((await runStage(stage({ value: "one" }, n), ctx(a), {})).outcome.how).toBe("up to date");
    const d = join(root, "d");
    expect((await runStage(stage({ value: "one" }, n), ctx(d), {})).outcome.how).toBe("cache");
    expect(n.runs).toBe(0);
  });

  it("--no-cache builds instead", async () => {
    const c = join(root, "c");
    const n = { runs: 0 };
    const r = await runStage(stage({ value: "one" }, n), { ...ctx(c), useCache: false }, {});
    expect(r.outcome.how).toBe("built");
    expect(n.runs).toBe(1);
  });
});

describe("the output directory's lock", () => {
  it("refuses a second holder that is alive, naming its PID and command", async () => {
    const dir = join(root, "locked");
    mkdirSync(dir, { recursive: true });
    // node itself, not sleep: the unit tier runs with nothing but node on PATH.
    const other = spawn(process.execPath, ["-e", "setTimeout(() => undefined, 30_000)"], { stdio: "ignore" });
    try {
      writeFileSync(lockFile(dir), JSON.stringify({ pid: other.pid, command: "kiln build --board qemu-virt", since: "2026-12-01T00:00:00Z" }));
      let err: unknown;
      try {
        acquireLock(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LockedError);
      expect(String((err as Error).message)).toContain(`PID ${String(other.pid)} (kiln build --board qemu-virt)`);
    } finally {
      other.kill();
    }
  });

  it("takes over a lock whose process is gone, with a note, and releases it", async () => {
    const dir = join(root, "stale");
    mkdirSync(dir, { recursive: true });
    const gone = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await new Promise((r) => gone.on("exit", r));
    writeFileSync(lockFile(dir), JSON.stringify({ pid: gone.pid, command: "kiln config", since: "x" }));
    const note = acquireLock(dir, "kiln test");
    expect(note).toContain(`PID ${String(gone.pid)} (kiln config), which is no longer running`);
    expect(JSON.parse(readFileSync(lockFile(dir), "utf8"))).toMatchObject({ pid: process.pid, command: "kiln test" });
    releaseLock(dir);
    expect(existsSync(lockFile(dir))).toBe(false);
  });
});

describe("the disk space pre-flight", () => {
  const huge = (name: "kernel" | "rootfs", outputs: string[]) => ({ name, diskMiB: 1024 * 1024 * 1024, outputs: () => outputs });

  it("refuses stages that will surely run (outputs missing, or forced) when the output directory's file system has no room, naming them", async () => {
    const outDir = join(root, "disk");
    mkdirSync(outDir, { recursive: true });
    const made = join(outDir, "made.txt");
    writeFileSync(made, "x");
    const missing = join(outDir, "missing.txt");
    await expect(requireDiskSpace(ctx(outDir), [huge("kernel", [made]), huge("rootfs", [missing])])).rejects.toThrow(
      /not enough disk space for rootfs in .*disk: \d+ MiB free, about 1073741824 MiB needed/,
    );
    // Outputs there: maybe up to date, not counted; a no-op build never fails for space.
    await expect(requireDiskSpace(ctx(outDir), [huge("kernel", [made])])).resolves.toBeUndefined();
    await expect(requireDiskSpace(ctx(outDir, ["kernel"]), [huge("kernel", [made])])).rejects.toThrow(/for kernel/);
    await expect(requireDiskSpace(ctx(outDir), [{ name: "kernel", diskMiB: 1, outputs: () => [missing] }])).resolves.toBeUndefined();
  });
});
