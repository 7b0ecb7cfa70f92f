import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { restoreOutputs, storeOutputs } from "../../src/stage/store.js";

describe("the stage cache's copy of a stage's outputs", () => {
  it("restored into another output directory: its JSON names the new directory; a link out of the outputs is kept as a link, and what it points to is never read nor changed", async () => {
    const base = mkdtempSync(join(process.env.KILN_TEST_TMP ?? tmpdir(), "stage-store-"));
    const first = join(base, "first");
    const second = join(base, "second");
    // What `make modules_install` leaves: lib/modules/R/build, a link to the kernel's output directory.
    const kernelDir = join(first, "kernel");
    mkdirSync(join(kernelDir, "sub"), { recursive: true });
    const foreign = JSON.stringify({ dir: join(first, "kernel") });
    writeFileSync(join(kernelDir, "sub", "inside.json"), foreign);
    const staging = join(first, "modules", "lib", "modules", "6.1.0");
    mkdirSync(staging, { recursive: true });
    symlinkSync(kernelDir, join(staging, "build"));
    writeFileSync(join(staging, "modules.order"), "");
    const manifest = join(first, "kernel-artifacts.json");
    writeFileSync(manifest, JSON.stringify({ zImage: join(first, "kernel", "zImage"), modulesDir: join(first, "modules") }));

    const inputs = { ".config": `test ${base}` };
    await storeOutputs("kernel", inputs, first, [manifest, join(first, "modules")]);
    expect(await restoreOutputs("kernel", inputs, second)).toBe(true);

    expect(JSON.parse(readFileSync(join(second, "kernel-artifacts.json"), "utf8"))).toEqual({ zImage: join(second, "kernel", "zImage"), modulesDir: join(second, "modules") });
    expect(readlinkSync(join(second, "modules", "lib", "modules", "6.1.0", "build"))).toBe(kernelDir);
    expect(readFileSync(join(kernelDir, "sub", "inside.json"), "utf8")).toBe(foreign);
  });
});
