/**
 * kiln's flashcfg (the board-side script) run here with /proc/mtd and the device
 * node redirected to files; images come from the real mkimage. The end-to-end
 * proof on a real MTD device is the QEMU board's test.
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.js";

const script = join(repoRoot, "src", "flashcfg", "flashcfg.sh");
const dir = mkdtempSync(join(tmpdir(), "kiln-flashcfg-"));
const devDir = join(dir, "dev");
mkdirSync(devDir);
const procMtd = join(dir, "mtd");
writeFileSync(procMtd, 'dev:    size   erasesize  name\nmtd0: 04000000 00040000 "u-boot"\nmtd1: 00100000 00040000 "image"\n');
writeFileSync(join(dir, "image.conf"), 'PARTITION="image"\n');
writeFileSync(join(dir, "ax3.conf"), 'PARTITION="OpenBlocks A series Kernel Image"\n');
// flash_erase stands in for the MTD ioctl; everything else is the script's own logic.
const bin = join(dir, "bin");
mkdirSync(bin);
writeFileSync(join(bin, "flash_erase"), '#!/bin/sh\nhead -c 1048576 /dev/zero | tr "\\000" "\\377" > "$1"\n');
chmodSync(join(bin, "flash_erase"), 0o755);

async function image(name: string, bytes: number): Promise<string> {
  const data = join(dir, `${name}.bin`);
  writeFileSync(data, Buffer.alloc(bytes, 0x5a));
  const out = join(dir, `${name}.uImage`);
  await execa("mkimage", ["-A", "arm", "-O", "linux", "-T", "kernel", "-C", "none", "-a", "0x8000", "-e", "0x8000", "-n", name, "-d", data, out]);
  return out;
}

function env(conf = "image.conf") {
  return { PATH: `${bin}:/usr/bin:/bin`, FLASHCFG_PROC_MTD: procMtd, FLASHCFG_DEV_DIR: devDir, FLASHCFG_LOG: join(dir, "flashcfg.log"), FLASHCFG_CONF: join(dir, conf), FLASHCFG_LOCK: join(dir, "flashcfg.lock"), FLASHCFG_STATUS: join(dir, "flashcfg.status") };
}

async function flashcfg(file: string, args = ["-y"], opts: { conf?: string; input?: string } = {}) {
  return execa("sh", [script, ...args, "-f", file], { reject: false, env: env(opts.conf), input: opts.input ?? "" });
}

function flashContent(): Buffer {
  return readFileSync(join(devDir, "mtd1"));
}

describe("kiln's flashcfg", () => {
  it("writes a good image and verifies it by reading back", async () => {
    writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
    const img = await image("good", 5000);
    const r = await flashcfg(img);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/5064 bytes written to .*mtd1 and verified/);
    expect(flashContent().subarray(0, 5064).equals(readFileSync(img))).toBe(true);
    expect(readFileSync(join(dir, "flashcfg.log"), "utf8")).toMatch(/OK: 5064 bytes/);
    expect(readFileSync(join(dir, "flashcfg.status"), "utf8")).toMatch(/ ok 5064 bytes written to .*mtd1 and verified\n$/);
  });

  it("checks the data CRC over the data the header announces, also when bytes follow it (padding), and writes the whole file", async () => {
    // The CRC is read straight from the file when the data ends it, through head -c when it does not: both ways here.
    writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
    const img = await image("padded", 7000);
    const padded = Buffer.concat([readFileSync(img), Buffer.alloc(300, 0xa5)]);
    const file = join(dir, "padded-whole.uImage");
    writeFileSync(file, padded);
    const r = await flashcfg(file);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(flashContent().subarray(0, padded.length).equals(padded)).toBe(true);
    // One bit off in the data (not in the padding) is refused either way.
    for (const [name, bytes] of [["flipped", Buffer.from(readFileSync(img))], ["flipped-padded", Buffer.from(padded)]] as const) {
      bytes[64 + 100] = (bytes[64 + 100] ?? 0) ^ 1;
      const f = join(dir, `${name}.uImage`);
      writeFileSync(f, bytes);
      const bad = await flashcfg(f);
      expect(bad.exitCode, name).toBe(1);
      expect(bad.stderr, name).toMatch(/bad data CRC/);
    }
  });

  it("one at a time: a second run while the lock is held writes nothing and names the holder, and leaves the holder's status alone", async () => {
    writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
    const img = await image("second", 3000);
    writeFileSync(join(dir, "flashcfg.lock"), "PID 4242 since 2026-12-02 06:00:00, writing /tmp/x/image\n");
    writeFileSync(join(dir, "flashcfg.status"), "2026-12-02 06:00:01 writing 5064 bytes\n");
    // The lock held by another process for the time of the run, as a writing flashcfg holds it.
    const holder = execa("flock", ["-o", join(dir, "flashcfg.lock"), "sleep", "3"], { reject: false, stdio: "ignore" });
    for (let i = 0; i < 50; i++) {
      if ((await execa("flock", ["-n", join(dir, "flashcfg.lock"), "true"], { reject: false })).exitCode !== 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await flashcfg(img);
    await holder;
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/another flashcfg is running on this board \(PID 4242 since 2026-12-02 06:00:00, writing \/tmp\/x\/image\); this one wrote nothing/);
    expect(flashContent().equals(Buffer.alloc(1048576, 0xff))).toBe(true);
    expect(readFileSync(join(dir, "flashcfg.status"), "utf8")).toBe("2026-12-02 06:00:01 writing 5064 bytes\n");
    // Released by the kernel when the holder ends: the next run takes it.
    const again = await flashcfg(img);
    expect(again.exitCode).toBe(0);
  });

  it("a failure is the outcome in the status file", async () => {
    const img = await image("big", 2 * 1048576);
    const r = await flashcfg(img);
    expect(r.exitCode).toBe(3);
    expect(readFileSync(join(dir, "flashcfg.status"), "utf8")).toMatch(/ failed 3 .*more than "image"/);
  });

  it("-s: writes only when the file's sha256 is the one the sender checked", async () => {
    writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
    const img = await image("sha", 4000);
    const sha = createHash("sha256").update(readFileSync(img)).digest("hex");
    const wrong = await flashcfg(img, ["-y", "-s", "0".repeat(64)]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(new RegExp(`has sha256 ${sha}, not 0{64} as the sender checked; flash untouched`));
    expect(flashContent().equals(Buffer.alloc(1048576, 0xff))).toBe(true);
    const right = await flashcfg(img, ["-y", "-s", sha]);
    expect(right.exitCode, right.stderr).toBe(0);
    expect(flashContent().subarray(0, 4064).equals(readFileSync(img))).toBe(true);
  });

  it.each([
    ["a flipped data byte", (b: Buffer) => b.writeUInt8((b[100] ?? 0) ^ 0xff, 100), /bad data CRC/],
    ["a flipped header byte", (b: Buffer) => b.writeUInt8((b[40] ?? 0) ^ 0xff, 40), /bad header CRC/],
    ["not a uImage", (b: Buffer) => b.writeUInt32BE(0x1f8b0800, 0), /not a uImage \(magic 1f8b0800/],
    ["a truncated file", null, /truncated/],
  ] as const)("refuses %s and leaves the flash untouched", async (_what, corrupt, message) => {
    const img = await image("victim", 3000);
    let bytes = readFileSync(img);
    if (corrupt) corrupt(bytes);
    else bytes = bytes.subarray(0, 2000);
    writeFileSync(img, bytes);
    const before = flashContent();
    const r = await flashcfg(img);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(flashContent().equals(before)).toBe(true);
  });

  it("compares CRCs from 2^31 up exactly: a header whose data CRC is off by one bit is refused, the right one written", async () => {
    // A size whose data CRC is at least 2^31: awk printed such a value to six digits (3.08922e+09),
    // and the CRCs were compared on those.
    let n = 3000;
    while (crc32(Buffer.alloc(n, 0x5a)) < 2 ** 31) n++;
    const img = await image("high-crc", n);
    const good = readFileSync(img);
    const dcrc = good.readUInt32BE(24);
    expect(dcrc).toBeGreaterThanOrEqual(2 ** 31);
    // Only the data CRC the header claims is off: the header's own CRC is made right again.
    const bad = Buffer.from(good);
    bad.writeUInt32BE((dcrc ^ 1) >>> 0, 24);
    bad.writeUInt32BE(0, 4);
    bad.writeUInt32BE(crc32(bad.subarray(0, 64)), 4);
    const badFile = join(dir, "high-crc-bad.uImage");
    writeFileSync(badFile, bad);
    writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
    const before = flashContent();
    const r = await flashcfg(badFile);
    expect(r.exitCode).toBe(1);
    const hex = (v: number) => v.toString(16).padStart(8, "0");
    expect(r.stderr).toContain(`bad data CRC (${hex(dcrc)}, header says ${hex((dcrc ^ 1) >>> 0)})`);
    expect(flashContent().equals(before)).toBe(true);
    const ok = await flashcfg(img);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(flashContent().subarray(0, good.length).equals(good)).toBe(true);
  });

  it("refuses an image larger than the partition, saying by how much", async () => {
    const before = flashContent();
    const r = await flashcfg(await image("huge", 1048576));
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/1048640 bytes, 64 more than "image"/);
    expect(flashContent().equals(before)).toBe(true);
  });

  it("refuses when the partition does not exist, naming the ones that do", async () => {
    const r = await flashcfg(await image("x", 10), ["-y"], { conf: "ax3.conf" });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no MTD partition named "OpenBlocks A series Kernel Image" .*found: u-boot,image/);
  });

  it("with one name per flash layout, writes the one /proc/mtd shows; without any, names them all", async () => {
    writeFileSync(join(dir, "layouts.conf"), 'PARTITION="OpenBlocks A series Kernel Image"\nPARTITIONS="OpenBlocks A series Kernel Image|image"\n');
    writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
    const img = await image("layouts", 100);
    const r = await flashcfg(img, ["-y"], { conf: "layouts.conf" });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/writing .* to .*mtd1 "image"/);
    writeFileSync(join(dir, "none.conf"), 'PARTITION="a"\nPARTITIONS="a|b c"\n');
    const none = await flashcfg(img, ["-y"], { conf: "none.conf" });
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toMatch(/no MTD partition named "a" \(the board's names: a\|b c\) in .*found: u-boot,image/);
  });

  it("without -y and without a yes it does nothing", async () => {
    const before = flashContent();
    const r = await flashcfg(await image("ask", 10), [], { input: "n\n" });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not confirmed/);
    expect(flashContent().equals(before)).toBe(true);
  });
  describe("a read-back that differs", () => {
    // flashcp stands in for the write: it corrupts one byte the first N times it runs.
    const flaky = join(dir, "flaky-bin");
    mkdirSync(flaky);
    writeFileSync(
      join(flaky, "flashcp"),
      '#!/bin/sh\nn=$(cat "$FLAKY_COUNT" 2>/dev/null || echo 0); echo $((n + 1)) > "$FLAKY_COUNT"\ncp "$1" "$2"\nif [ "$n" -lt "$FLAKY_BAD" ]; then printf "\\001" | dd of="$2" bs=1 seek=100 conv=notrunc 2>/dev/null; fi\n',
    );
    chmodSync(join(flaky, "flashcp"), 0o755);
    const run = (img: string, bad: number) =>
      execa("sh", [script, "-y", "-f", img], { reject: false, env: { ...env(), PATH: `${flaky}:${bin}:/usr/bin:/bin`, FLAKY_COUNT: join(dir, `count-${bad}`), FLAKY_BAD: String(bad) }, input: "" });

    it("is written once more, and a good second read-back succeeds", async () => {
      writeFileSync(join(devDir, "mtd1"), Buffer.alloc(1048576, 0xff));
      const img = await image("flaky1", 4000);
      const r = await run(img, 1);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/again: the first read-back differed/);
      expect(readFileSync(join(dir, "count-1"), "utf8").trim()).toBe("2");
      expect(flashContent().subarray(0, 4064).equals(readFileSync(img))).toBe(true);
    });

    it("twice: exit 4, and the message says the partition is half-written and what to do before any power cycle", async () => {
      const img = await image("flaky2", 4000);
      const r = await run(img, 2);
      expect(r.exitCode).toBe(4);
      expect(r.stderr).toMatch(/differs .* after two writes; the partition is erased or half-written: do not power the board off; run kiln flash or kiln restore again first/);
      expect(readFileSync(join(dir, "count-2"), "utf8").trim()).toBe("2");
      expect(readFileSync(join(dir, "flashcfg.status"), "utf8")).toMatch(/failed 4 /);
    });
  });
});
