/**
 * The cached Debian base (src/rootfs/base-cache.ts) against the real tar and
 * cpio: a root unpacked from the cache packs into the same initramfs, byte for
 * byte, as the directory it was saved from (owners, modes, hard links, device
 * nodes, symlinks, a FIFO), and the cache refuses what it must not keep.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packCpio } from "../../src/cpio.js";
import { StageLog } from "../../src/exec.js";
import { baseDir, baseKey, restoreBase, saveBase } from "../../src/rootfs/base-cache.js";
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
const key = (n: number) => baseKey({ args: ["--variant=minbase", `--include=pkg${n}`, "bookworm"], mmdebstrap: "mmdebstrap 1.3.5", epoch: 1795713176, code: "c" });

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

describe("the cached Debian base", () => {
  it("unpacks into a root that packs into the same initramfs, byte for byte", async () => {
    const root = makeRoot();
    const log = new StageLog(join(tmp(), "base.log"));
    await saveBase(key(1), root, result(), log);
    expect(existsSync(join(baseDir(), `${key(1)}.tar`))).toBe(true);

    const back = join(tmp(), "back");
    const meta = await restoreBase(key(1), back, log);
    expect(meta).toMatchObject({ usedSuites: ["bookworm", "bookworm-updates"], cached: 179 });
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
    await saveBase(key(3), makeRoot(), result(), log);
    writeFileSync(join(baseDir(), `${key(3)}.tar`), "not a tar");
    const target = join(tmp(), "damaged");
    expect(await restoreBase(key(3), target, log)).toBeUndefined();
    expect(existsSync(join(baseDir(), `${key(3)}.tar`))).toBe(false);
    expect(existsSync(target)).toBe(false);
    expect(readFileSync(log.file, "utf8")).toMatch(/could not be used .*removed, running mmdebstrap/);
  });

  it("keeps no base made without a suite, and only the newest four", async () => {
    const log = new StageLog(join(tmp(), "base.log"));
    await saveBase(key(4), makeRoot(), result({ dropped: [{ suite: "bookworm-security", reason: "404", url: "u" }] }), log);
    expect(existsSync(join(baseDir(), `${key(4)}.tar`))).toBe(false);
    for (const n of [5, 6, 7, 8, 9]) await saveBase(key(n), makeRoot(), result(), log);
    const kept = readdirSync(baseDir()).filter((f) => f.endsWith(".tar"));
    expect(kept).toHaveLength(4);
    expect(kept).toContain(`${key(9)}.tar`);
    expect(readdirSync(baseDir()).filter((f) => f.endsWith(".json"))).toHaveLength(4);
    expect(readdirSync(baseDir()).filter((f) => f.includes(".tmp"))).toEqual([]);
  });

  it("keys on every part of mmdebstrap's command line, its version and the epoch", () => {
    const parts = { args: ["--include=lxc", "bookworm"], mmdebstrap: "mmdebstrap 1.3.5", epoch: 1, code: "c" };
    const k = baseKey(parts);
    expect(baseKey({ ...parts })).toBe(k);
    for (const changed of [{ args: ["--include=lxc,iperf3", "bookworm"] }, { mmdebstrap: "mmdebstrap 1.4.0" }, { epoch: 2 }, { code: "d" }]) {
      expect(baseKey({ ...parts, ...changed })).not.toBe(k);
    }
  });
});
