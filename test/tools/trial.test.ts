/** The pure parts of try-before-commit: what kexec loads, which system answers, the scripts that run on the board. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseUImage } from "../../src/image/uimage.js";
import { type BootState, kexecParts, jumpScript, loadScript, whichBoot } from "../../src/remote/trial.js";
import { fakeZImage } from "../support/images.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-trial-"));

function mkimage(name: string, compression: string, parts: Buffer[]): Buffer {
  const files = parts.map((p, i) => {
    const f = join(dir, `${name}.${i}`);
    writeFileSync(f, p);
    return f;
  });
  const out = join(dir, `${name}.uImage`);
  execFileSync("mkimage", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", compression, "-a", "0x40008000", "-e", "0x40008000", "-n", "KILNVIRT t", "-d", files.join(":"), out], { stdio: "ignore" });
  return readFileSync(out);
}

describe("kexecParts", () => {
  it("gives kexec the zImage itself, the ramdisk as the kernel unpacks it, and the DTB", () => {
    const zImage = fakeZImage(8192);
    const ramdisk = gzipSync(Buffer.from("070701 a cpio"));
    const dtb = Buffer.concat([Buffer.from([0xd0, 0x0d, 0xfe, 0xed]), Buffer.alloc(60, 3)]);
    const img = mkimage("gz", "gzip", [gzipSync(zImage), ramdisk, dtb]);
    const p = kexecParts(img, parseUImage(img));
    expect(p.kernel.equals(zImage)).toBe(true);
    expect(p.ramdisk?.equals(ramdisk)).toBe(true);
    expect(p.dtb?.equals(dtb)).toBe(true);
    // -C none: the part is the zImage (with an appended DTB on the AX3) as it is.
    const plain = mkimage("none", "none", [zImage, ramdisk]);
    const q = kexecParts(plain, parseUImage(plain));
    expect(q.kernel.equals(zImage)).toBe(true);
    expect(q.dtb).toBeUndefined();
  });
});

describe("whichBoot", () => {
  const before: BootState = { bootId: "b1", release: "6.1.192", cmdline: "console=ttyAMA0 panic=5" };
  it("tells the same boot, the trial, the old image again, and anything else apart", () => {
    expect(whichBoot(before, before, "abc123").kind).toBe("same");
    expect(whichBoot(before, { bootId: "b2", release: "6.1.192", cmdline: "console=ttyAMA0 panic=5 kiln.trial=abc123 kiln.trial.deadline=120" }, "abc123").kind).toBe("trial");
    expect(whichBoot(before, { bootId: "b3", release: "6.1.192", cmdline: "console=ttyAMA0 panic=5" }, "abc123").kind).toBe("old");
    // Another trial's marker is not this trial, nor the old image.
    expect(whichBoot(before, { bootId: "b4", release: "6.1.192", cmdline: "console=ttyAMA0 kiln.trial=ffffff" }, "abc123").kind).toBe("other");
    expect(whichBoot(before, { bootId: "b5", release: "6.1.200", cmdline: "console=ttyAMA0" }, "abc123")).toMatchObject({ kind: "other", why: expect.stringMatching(/Linux 6\.1\.200/) as unknown });
  });
});

describe("the scripts run on the board", () => {
  it("kexec -l keeps the running command line, drops an earlier trial's marker, adds this one", () => {
    const s = loadScript({ kernel: "/tmp/k/zImage", ramdisk: "/tmp/r/ramdisk", dtb: "/tmp/d/board.dtb" }, "abc123", 90);
    expect(s).toContain("kexec -l '/tmp/k/zImage' --initrd='/tmp/r/ramdisk' --dtb='/tmp/d/board.dtb'");
    expect(s).toContain('--command-line="$cmdline kiln.trial=abc123 kiln.trial.deadline=90"');
    // The sed really removes a marker (run it as the board would).
    const sed = /sed -e '([^']+)'/.exec(s)?.[1] ?? "";
    expect(execFileSync("sed", ["-e", sed], { input: "console=ttyAMA0 panic=5 kiln.trial=ffff kiln.trial.deadline=60" }).toString()).toBe("console=ttyAMA0 panic=5");
    // The board's trial parameters: the deadline filled in, an earlier value (a trial of a trial's command line) replaced.
    const w = loadScript({ kernel: "/tmp/k/zImage" }, "abc123", 90, ["i6300esb.heartbeat={{deadline}}"]);
    expect(w).toContain('kiln.trial.deadline=90 i6300esb.heartbeat=90"');
    const cmd = /cmdline=\$\((sed .*) \/proc\/cmdline\)/.exec(w)?.[1] ?? "";
    expect(execFileSync("sh", ["-c", cmd], { input: "console=ttyAMA0 i6300esb.heartbeat=60 panic=5 kiln.trial=ffff" }).toString()).toBe("console=ttyAMA0 panic=5");
    const bad = loadScript({ kernel: "/tmp/it's" }, "abc", 5);
    expect(bad).toContain("kexec -l '/tmp/it'\\''s'");
  });

  it("arms the watchdog and jumps detached", () => {
    expect(jumpScript(120)).toMatch(/^setsid sh -c 'busybox watchdog -T 120 -t 100000 -F \/dev\/watchdog & w=\$!; sleep 1; kill -9 \$w; sync; kexec -e'/);
  });
});
