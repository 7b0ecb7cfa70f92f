import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Compression, compressCommandLine } from "../../src/compress.js";
import { packedByRootfs } from "../../src/image/rootfs-packed.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("the image stage takes the rootfs stage's compressed ramdisk only when it is this cpio's", () => {
  const base = mkdtempSync(join(tmpdir(), "kiln-packed-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  /** A rootfs directory as the stage leaves it; the manifest names another directory, as one restored from the cache does. */
  function rootfs(name: string, opts: { compression?: string; command?: string | null; packedSha?: string } = {}) {
    const dir = join(base, name, "rootfs");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "ramdisk.cpio"), "cpio bytes");
    writeFileSync(join(dir, "ramdisk.cpio.gz"), "gzip bytes");
    const files = {
      "/elsewhere/rootfs/ramdisk.cpio": { sha256: sha("cpio bytes"), size: 10 },
      "/elsewhere/rootfs/ramdisk.cpio.gz": { sha256: opts.packedSha ?? sha("gzip bytes"), size: 10 },
    };
    const command = opts.command === undefined ? compressCommandLine((opts.compression ?? "gzip") as Compression) : opts.command;
    writeFileSync(join(dir, "manifest.json"), JSON.stringify({ sizes: { compression: opts.compression ?? "gzip", ...(command === null ? {} : { command }) }, files }));
    return join(dir, "ramdisk.cpio");
  }

  it("finds it by name and sha256, wherever the manifest was written", async () => {
    const cpio = rootfs("ok");
    expect(await packedByRootfs(cpio, sha("cpio bytes"), "gzip")).toBe(`${cpio}.gz`);
  });

  it("not for another cpio (a --ramdisk of the user's own, or the rootfs rebuilt since)", async () => {
    expect(await packedByRootfs(rootfs("other"), sha("other cpio"), "gzip")).toBeUndefined();
  });

  it("not for another compression than the board's image asks for", async () => {
    expect(await packedByRootfs(rootfs("lzma"), sha("cpio bytes"), "lzma")).toBeUndefined();
    expect(await packedByRootfs(rootfs("xz", { compression: "xz" }), sha("cpio bytes"), "gzip")).toBeUndefined();
    expect(await packedByRootfs(rootfs("none"), sha("cpio bytes"), "none")).toBeUndefined();
  });

  it("not when it was made by another command line for the same kind (another level), or by a kiln that did not record one", async () => {
    expect(await packedByRootfs(rootfs("level", { command: "gzip -1n -c" }), sha("cpio bytes"), "gzip")).toBeUndefined();
    expect(await packedByRootfs(rootfs("unrecorded", { command: null }), sha("cpio bytes"), "gzip")).toBeUndefined();
  });

  it("not when the compressed file changed since the manifest recorded it", async () => {
    expect(await packedByRootfs(rootfs("edited", { packedSha: sha("what it was") }), sha("cpio bytes"), "gzip")).toBeUndefined();
  });

  it("not without a manifest beside the cpio", async () => {
    const cpio = rootfs("bare");
    rmSync(join(base, "bare", "rootfs", "manifest.json"));
    expect(await packedByRootfs(cpio, sha("cpio bytes"), "gzip")).toBeUndefined();
  });
});
