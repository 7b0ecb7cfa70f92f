import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkStamp, writeStamp } from "../../src/cache.js";
import { beyondNewest } from "../../src/fsutil.js";

describe("stage cache decisions", () => {
  const out = mkdtempSync(join(tmpdir(), "kiln-cache-"));
  const artefact = join(out, "zImage");
  writeFileSync(artefact, "x");
  const kernel = { ".config": "aaa", compiler: "gcc 12.2", targets: "zImage modules" };

  it("runs a stage that was never built", async () => {
    expect(await checkStamp(out, "kernel", kernel)).toEqual({ fresh: false, why: ["never built"] });
  });

  it("skips it when the inputs match and the outputs exist", async () => {
    await writeStamp(out, "kernel", kernel, [artefact]);
    expect(await checkStamp(out, "kernel", { ...kernel })).toEqual({ fresh: true, why: [] });
  });

  it("names the input that changed", async () => {
    expect(await checkStamp(out, "kernel", { ...kernel, ".config": "bbb" })).toEqual({ fresh: false, why: [".config changed"] });
    const { compiler: _drop, ...fewer } = kernel;
    expect((await checkStamp(out, "kernel", fewer)).why).toEqual(["compiler changed"]);
  });

  it("stages are independent: a ramdisk change re-runs the image, not the kernel", async () => {
    const image = { zImage: "k1", ramdisk: "r1" };
    await writeStamp(out, "image", image, [artefact]);
    expect((await checkStamp(out, "image", { ...image, ramdisk: "r2" })).why).toEqual(["ramdisk changed"]);
    expect((await checkStamp(out, "kernel", kernel)).fresh).toBe(true);
  });

  it("runs again when an output went missing", async () => {
    rmSync(artefact);
    expect((await checkStamp(out, "kernel", kernel)).why).toEqual(["zImage is missing"]);
  });

  it("runs again when an output was changed behind its back, not when only its mtime moved", async () => {
    writeFileSync(artefact, "x");
    await writeStamp(out, "kernel", kernel, [artefact]);
    utimesSync(artefact, new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await checkStamp(out, "kernel", kernel)).toEqual({ fresh: true, why: [] });
    writeFileSync(artefact, "y");
    expect((await checkStamp(out, "kernel", kernel)).why).toEqual(["output zImage changed since it was built"]);
  });

  it("a stamp of an older kiln is not trusted", async () => {
    writeFileSync(join(out, "stamps", "kernel.json"), JSON.stringify({ stage: "kernel", inputs: kernel, outputs: [artefact] }));
    expect((await checkStamp(out, "kernel", kernel)).why).toEqual(["its stamp is from an older kiln"]);
  });
});

describe("pruning kiln's caches", () => {
  it("removes the entries beyond the most recently used ones, whatever order they are listed in", () => {
    const entries = [{ name: "old", used: 1 }, { name: "newest", used: 9 }, { name: "mid", used: 5 }, { name: "oldest", used: 0 }];
    expect(beyondNewest(entries, 2).map((e) => e.name)).toEqual(["old", "oldest"]);
    expect(beyondNewest(entries, 4)).toEqual([]);
    expect(beyondNewest(entries, 0).map((e) => e.name)).toEqual(["newest", "mid", "old", "oldest"]);
    // The caller's list is left as it was.
    expect(entries.map((e) => e.name)).toEqual(["old", "newest", "mid", "oldest"]);
  });
});
