/** A stage's code, found by following its imports: what the engine hash covers without a list kept by hand. */
import { describe, expect, it } from "vitest";
import { codeClosure, importsOf, PLUMBING } from "../../src/stage/engine.js";

describe("a stage's code", () => {
  it("reads value imports, re-exports and dynamic imports as written or compiled; not type-only ones or packages", () => {
    const src = [
      'import { a } from "./a.js";',
      'import type { T } from "./types.js";',
      'import { type U, b } from "../b.js";',
      'export { c } from "./c.js";',
      'export type { V } from "./v.js";',
      'import { z } from "zod";',
      'import {\n  d,\n  e,\n} from "./de.js";',
      'const m = await import("./lazy.js");',
      'import "./side-effect.js";',
    ].join("\n");
    expect(importsOf(src)).toEqual(["./a.js", "../b.js", "./c.js", "./de.js", "./lazy.js", "./side-effect.js"]);
  });

  it("follows imports from the stage's module through other folders, and not into the plumbing", async () => {
    const modules: Record<string, string> = {
      "stages/image": 'import { make } from "../image/stage.js";\nimport { KilnError } from "../errors.js";',
      "image/stage": 'import { size } from "./size.js";\nconst k = await import("../rootfs/host-key.js");\nimport { run } from "../exec.js";',
      "image/size": "export const size = 1;",
      "rootfs/host-key": 'import { pin } from "../remote/known-hosts.js";',
      "remote/known-hosts": 'import { writeFileAtomic } from "../fsutil.js";',
      errors: 'import { secret } from "./never-reached.js";',
      exec: "",
      fsutil: "",
      "never-reached": "",
    };
    const read = async (m: string) => modules[m];
    expect(await codeClosure("stages/image", read)).toEqual(["image/size", "image/stage", "remote/known-hosts", "rootfs/host-key", "stages/image"]);
    for (const p of ["errors", "exec", "fsutil"]) expect(PLUMBING.has(p)).toBe(true);
  });

  it("covers the real stages' modules: the rootfs stage reaches the image size budget, the image stage the host key of the ramdisk", async () => {
    const { readFile } = await import("node:fs/promises");
    const { existsSync } = await import("node:fs");
    const { join } = await import("node:path");
    const root = join(import.meta.dirname, "..", "..", "src");
    const read = async (m: string) => (existsSync(join(root, `${m}.ts`)) ? readFile(join(root, `${m}.ts`), "utf8") : undefined);
    const rootfs = await codeClosure("stages/rootfs", read);
    expect(rootfs).toEqual(expect.arrayContaining(["stages/rootfs", "rootfs/stage", "rootfs/pack", "image/size", "board/flash-layout"]));
    const image = await codeClosure("stages/image", read);
    expect(image).toEqual(expect.arrayContaining(["stages/image", "image/stage", "image/uimage", "rootfs/host-key", "handlebars"]));
    const kernel = await codeClosure("stages/kernel", read);
    expect(kernel).toEqual(expect.arrayContaining(["stages/kernel", "kernel/build", "kernel/source"]));
    expect(kernel).not.toContain("rootfs/stage");
    for (const mods of [rootfs, image, kernel]) for (const p of PLUMBING) expect(mods).not.toContain(p);
  });
});
