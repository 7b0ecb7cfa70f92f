/**
 * The cached Debian base (src/rootfs/base-cache.ts) against the real tar and
 * cpio: a root unpacked from the cache packs into the same initramfs, byte for
 * byte, as the directory it was saved from (owners, modes, hard links, device
 * nodes, symlinks, a FIFO), and the cache refuses what it must not keep.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packCpio } from "../../src/cpio.js";
import { StageLog } from "../../src/exec.js";
import { baseDir, restoreBase, saveBase } from "../../src/rootfs/base-cache.js";
import type { DebootstrapResult } from "../../src/rootfs/mmdebstrap.js";

const tmp = () => mkdtempSync(join(tmpdir(), "kiln-base-"));
const result = (over: Partial<DebootstrapResult> = {}): DebootstrapResult => ({
  usedSuites: ["bookworm", "bookworm-updates"],
  dropped: [],
  warnings: [],
  attempts: 1,
  downloaded: ["a.deb"],
  cached: 179,
  ...over,
});
// Any distinct 64-hex names will do here; how keys are made is test/unit/rootfs-base-key.test.ts.
const key = (n: number) => n.toString(16).padStart(64, "0");

/** A small root with what a Debian root has and a naive copy would lose. */
function makeRoot(): string {
  const root = join(tmp(), "root");
  mkdirSync(join(root, "usr", "bin"), { recursive: true });
  mkdirSync(join(root, "dev"));
  mkdirSync(join(root, "var", "spool"), { recursive: true });
  writeFileSync(join(root, "usr", "bin", "su"), "#!/bin/sh\n");
  chmodSync(join(root, "usr", "bin", "su"), 0o4755);
  writeFileSync(join(root, "usr", "bin", "perl5.36"), "x".repeat(5000));
  linkSync(join(root, "usr", "bin", "perl5.36"), join(root, "usr", "bin", "perl"));
  symlinkSync("su", join(root, "usr", "bin", "su-link"));
  writeFileSync(join(root, "var", "spool", "owned"), "mail\n");
  chownSync(join(root, "var", "spool", "owned"), 8, 12);
  chmodSync(join(root, "var", "spool"), 0o2775);
  execFileSync("mknod", ["-m", "666", join(root, "dev", "null"), "c", "1", "3"]);
  execFileSync("mkfifo", [join(root, "dev", "initctl")]);
  return root;
}

// Device nodes and owners need root, as kiln rootfs does.
describe.skipIf(process.getuid?.() !== 0)("the cached Debian base", () => {
  it("unpacks into a root that packs into the same initramfs, byte for byte", async () => {
    const root = makeRoot();
    const log = new StageLog(join(tmp(), "base.log"));
    await saveBase(key(1), root, result(), true, log);
    expect(existsSync(join(baseDir(), `${key(1)}.tar`))).toBe(true);

    const back = join(tmp(), "back");
    const meta = await restoreBase(key(1), back, log);
    expect(meta).toMatchObject({ key: key(1), usedSuites: ["bookworm", "bookworm-updates"] });
    // packCpio sets every mtime to the epoch, as the rootfs stage does.
    const a = join(tmp(), "a.cpio");
    const b = join(tmp(), "b.cpio");
    await packCpio(root, a, 1795713176, log);
    await packCpio(back, b, 1795713176, log);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
    // The listing shows what the comparison covers.
    const listing = execFileSync("cpio", ["-tv", "--numeric-uid-gid", "--quiet", "-F", b], { encoding: "utf8" });
    expect(listing).toMatch(/^crw-rw-rw-\s+1 0\s+0\s+1,\s+3 .* dev\/null$/m);
    expect(listing).toMatch(/^-rwsr-xr-x .* usr\/bin\/su$/m);
    expect(listing).toMatch(/^-rw-r--r--\s+1 8\s+12 .* var\/spool\/owned$/m);
    expect(listing).toMatch(/^-rw-r--r--\s+2 0 .* usr\/bin\/perl$/m);
  });

  it("has nothing under a key it never saved; a damaged entry is dropped and reported as none", async () => {
    const log = new StageLog(join(tmp(), "base.log"));
    expect(await restoreBase(key(2), join(tmp(), "none"), log)).toBeUndefined();
    await saveBase(key(3), makeRoot(), result(), true, log);
    writeFileSync(join(baseDir(), `${key(3)}.tar`), "not a tar");
    const target = join(tmp(), "damaged");
    expect(await restoreBase(key(3), target, log)).toBeUndefined();
    expect(existsSync(join(baseDir(), `${key(3)}.tar`))).toBe(false);
    expect(existsSync(target)).toBe(false);
    expect(readFileSync(log.file, "utf8")).toMatch(/is not used: its archive is damaged/);
  });

  it("is not used after a week: the mirrors' updates come in", async () => {
    const log = new StageLog(join(tmp(), "base.log"));
    await saveBase(key(10), makeRoot(), result(), true, log);
    const metaFile = join(baseDir(), `${key(10)}.json`);
    const meta = JSON.parse(readFileSync(metaFile, "utf8")) as { made: number };
    writeFileSync(metaFile, JSON.stringify({ ...meta, made: meta.made - 8 * 86_400_000 }));
    expect(await restoreBase(key(10), join(tmp(), "old"), log)).toBeUndefined();
    expect(existsSync(join(baseDir(), `${key(10)}.tar`))).toBe(false);
    expect(readFileSync(log.file, "utf8")).toMatch(/is not used: it is 8 days old/);
  });

  it("keeps no base made without a suite or with an unpinned timestamp, only the newest four, and nothing a killed save left", async () => {
    const log = new StageLog(join(tmp(), "base.log"));
    await saveBase(key(4), makeRoot(), result({ dropped: [{ suite: "bookworm-security", reason: "404", url: "u" }] }), true, log);
    expect(existsSync(join(baseDir(), `${key(4)}.tar`))).toBe(false);
    await saveBase(key(11), makeRoot(), result(), false, log);
    expect(existsSync(join(baseDir(), `${key(11)}.tar`))).toBe(false);
    // A save killed two hours ago, and a record whose archive is gone.
    mkdirSync(baseDir(), { recursive: true });
    const stale = join(baseDir(), `.${key(12)}.tar.tmp-0badf00d`);
    writeFileSync(stale, "half a tar");
    utimesSync(stale, new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000));
    writeFileSync(join(baseDir(), `${key(13)}.json`), "{}");
    for (const n of [5, 6, 7, 8, 9]) await saveBase(key(n), makeRoot(), result(), true, log);
    const kept = readdirSync(baseDir()).filter((f) => f.endsWith(".tar"));
    expect(kept).toHaveLength(4);
    expect(kept).toContain(`${key(9)}.tar`);
    expect(readdirSync(baseDir()).filter((f) => f.endsWith(".json"))).toHaveLength(4);
    expect(readdirSync(baseDir()).filter((f) => f.includes(".tmp"))).toEqual([]);
  });
});
