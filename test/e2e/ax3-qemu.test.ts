/**
 * The AX3 image, complete, and the AX3's own kernel and ramdisk booted in QEMU:
 * the same zImage and lzma ramdisk as in uImage.initrd.obsax3, packed a second
 * time with QEMU's device tree, booted by U-Boot from emulated NOR flash in the
 * vendor's seven-partition layout with 1 GiB of RAM and a data disk. Shares the
 * AX3 build directory (and so the one AX3 kernel) with build.test.ts.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUImage, sniffKind, type UImageHeader } from "../../src/image/uimage.js";
import { cacheDir } from "../../src/paths.js";
import { kiln, testWork } from "../support/cli.js";
import { e2eKey as key } from "../support/e2e-key.js";
import { releaseBoardSlot, withBoardSlot } from "../support/board-slots.js";
import { withSharedDir } from "../support/shared-dir.js";

const out = join(cacheDir(), "e2e", "openblocks-ax3");
const image = join(out, "uImage.initrd.obsax3");
const twin = join(out, "uImage.initrd.obsax3.qemu");
const instance = "ax3";
const stateEnv = () => ({ KILN_STATE_DIR: join(testWork(), "state") });
const instanceDir = () => join(testWork(), "state", "qemu", instance);
const consoleLog = () => readFileSync(join(instanceDir(), "console.log"), "utf8");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function part(file: string, h: UImageHeader, i: number): Buffer {
  const p = h.parts[i];
  if (!p) throw new Error(`${file} has no part ${i}`);
  return readFileSync(file).subarray(p.offset, p.offset + p.size);
}

async function ssh(port: number, script: string) {
  return execa("ssh", ["-i", key, "-p", String(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "root@127.0.0.1", script], {
    reject: false,
  });
}

describe("the AX3 image in QEMU", () => {
  let port: number;

  beforeAll(async () => {
    // Waits for build.test.ts, which may be building the same directory beside this file (see shared-dir.ts).
    const r = await withSharedDir(out, () => kiln(["build", "--board", "openblocks-ax3", "--out", out, "--authorized-key", `${key}.pub`, "--json"]));
    if (r.exitCode !== 0) throw new Error(`kiln build failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
    port = await withBoardSlot(async () => {
      const q = await kiln(["qemu", "--board", "openblocks-ax3", "--image", twin, "--instance", instance, "--data-disk", "--timeout", "900", "--json"], { env: stateEnv() });
      if (q.exitCode !== 0) throw new Error(`kiln qemu failed (${q.exitCode}):\n${q.stderr}`);
      return (JSON.parse(q.stdout) as { ssh: { port: number } }).ssh.port;
    });
  }, 3_600_000);

  afterAll(async () => {
    await kiln(["qemu", "stop", "--instance", instance], { env: stateEnv() });
    releaseBoardSlot();
  });

  it("part 1 of uImage.initrd.obsax3 is an lzma cpio with /init, LXC, dropbear, the SFTP server, kiln's flashcfg and kexec", async () => {
    const h = parseUImage(readFileSync(image));
    const ramdisk = part(image, h, 1);
    expect(sniffKind(ramdisk)).toBe("lzma");
    // Unpacked by the tools, outside this process: the cpio is ~100 MB.
    const file = join(testWork(), "ax3-ramdisk.lzma");
    writeFileSync(file, ramdisk);
    const list = await execa("sh", ["-c", `lzma -dc ${file} | cpio -it --quiet`]);
    const names = new Set(list.stdout.split("\n").map((n) => n.replace(/^\.\//, "")));
    for (const f of ["init", "usr/bin/lxc-start", "usr/sbin/dropbear", "usr/lib/sftp-server", "usr/sbin/flashcfg", "usr/sbin/kexec", "usr/sbin/chroot", "etc/inittab"]) {
      expect(names.has(f) || names.has(f.replace(/^usr\//, "")), f).toBe(true);
    }
    // The console's shell or getty is written by /init for the console the kernel was given.
    const init = (await execa("sh", ["-c", `lzma -dc ${file} | cpio -i --quiet --to-stdout init`])).stdout;
    expect(init).toMatch(/for arg in \$\(cat \/proc\/cmdline\)/);
    expect(init).toMatch(/::respawn:.*>>\/etc\/inittab/);
  });

  it("the QEMU twin carries the AX3's own zImage and ramdisk, byte for byte", () => {
    const own = parseUImage(readFileSync(image));
    const emu = parseUImage(readFileSync(twin));
    const zImage = readFileSync(join(out, "kernel", "arch", "arm", "boot", "zImage"));
    const ownKernel = gunzipSync(part(image, own, 0));
    const emuKernel = gunzipSync(part(twin, emu, 0));
    expect(sha256(emuKernel)).toBe(sha256(zImage));
    // The AX3's part 0 is the same zImage with the AX3 DTB appended (its U-Boot passes ATAGS).
    expect(sha256(ownKernel.subarray(0, zImage.length))).toBe(sha256(zImage));
    expect(sha256(part(twin, emu, 1))).toBe(sha256(part(image, own, 1)));
    expect(sniffKind(part(twin, emu, 2))).toBe("dtb");
    expect(emu.load).toBe(0x40008000);
  });

  it("boots through U-Boot from the seven-partition flash with 1 GiB, the root in a tmpfs, a shell on the kernel's console", async () => {
    const log = consoleLog();
    expect(log).toMatch(/Image Name:\s+OBSAX3LXC 6\.1\./);
    expect(log).toMatch(/7 fixed-partitions partitions found on MTD device/);
    expect(log).toMatch(/kiln: root in a tmpfs in [\d.]+ s \(\/usr bound from the initramfs, the rest copied\)/);
    // Board data says ttyS0 (the real AX3); QEMU gives ttyAMA0 on the command line, and /init follows the kernel.
    expect(log).toMatch(/kiln: up: obsax3, br0 .*console ttyAMA0/);
    const mem = await ssh(port, "awk '/MemTotal/ {print $2}' /proc/meminfo; cat /proc/mtd");
    expect(Number(mem.stdout.split("\n")[0])).toBeGreaterThan(900 * 1024);
    expect(mem.stdout).toMatch(/"OpenBlocks A series Kernel Image"/);
  });

  it("kiln check passes with the container proof, on a root that is not the initramfs, with containers on the data disk", async () => {
    const r = await kiln(["check", "--host", "127.0.0.1", "--port", String(port), "--identity", key, "--accept-new-host-key", "--board", "openblocks-ax3", "--out", out, "--json"], {
      env: stateEnv(),
    });
    const report = JSON.parse(r.stdout) as { checks: { id: string; ok: boolean; need: string; detail: string }[] };
    expect(report.checks.filter((c) => !c.ok && c.need === "required")).toEqual([]);
    expect(r.exitCode).toBe(0);
    for (const id of ["release", "config-match", "root-fs", "persistent-containers", "proof:pidns", "proof:memory", "proof:bridge"]) {
      expect(report.checks.find((c) => c.id === id)?.ok, id).toBe(true);
    }
    expect(report.checks.find((c) => c.id === "root-fs")?.detail).toBe("/ is tmpfs");
    expect(report.checks.find((c) => c.id === "persistent-containers")?.detail).toMatch(/\/var\/lib\/lxc is on ext2\/ext3/);
  }, 900_000);

  // Directly (--no-try): what this proves is the AX3's flash path; trial.test.ts proves the trial on qemu-virt.
  // The reboot into the new image is also the reboot a container on the data disk must survive: one
  // boot of the AX3's twin costs ~90 s under emulation (its lzma ramdisk), so the two share it.
  // --no-check: the same zImage and ramdisk passed the check above; the check after a flash is proven on qemu-virt.
  it("kiln flash writes a second AX3 image through the board's flashcfg, the board boots into it, and a container marked to autostart on the data disk is running again", async () => {
    const made = await ssh(port, "lxc-create -n keeper -t busybox >/dev/null 2>&1 && echo 'lxc.start.auto = 1' >> /var/lib/lxc/keeper/config && lxc-start -n keeper && lxc-info -n keeper -s && sync");
    expect(made.stdout, made.stderr).toMatch(/RUNNING/);
    const h = parseUImage(readFileSync(twin));
    const parts = h.parts.map((_, i) => {
      const f = join(testWork(), `ax3-part${i}`);
      writeFileSync(f, part(twin, h, i));
      return f;
    });
    const second = join(testWork(), "ax3-second.uImage");
    await execa("mkimage", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x40008000", "-e", "0x40008000", "-n", "OBSAX3LXC e2e second", "-d", parts.join(":"), second]);
    const flash1 = join(instanceDir(), "flash1.img");
    // The board's own image is refused for the board under QEMU, before anything is written.
    const wrong = await kiln(["flash", "--board", "openblocks-ax3", "--host", `127.0.0.1:${port}`, "--identity", key, "--image", image, "--out", out, "--json"], { env: stateEnv() });
    expect(wrong.exitCode).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/openblocks-ax3 under QEMU.*image for the real board/);
    const from = consoleLog().length;
    const r = await kiln(["flash", "--board", "openblocks-ax3", "--host", `127.0.0.1:${port}`, "--identity", key, "--image", second, "--out", out, "--no-try", "--no-check", "--reboot-timeout", "900", "--json"], {
      env: stateEnv(),
    });
    const res = JSON.parse(r.stdout) as { results: { ok: boolean; flashcfg: string; error?: string }[] };
    expect(res.results[0]?.error).toBeUndefined();
    expect(res.results[0]).toMatchObject({ ok: true, flashcfg: "kiln" });
    expect(r.exitCode).toBe(0);
    expect(consoleLog()).toMatch(/Image Name:\s+OBSAX3LXC e2e second/);
    expect(readFileSync(flash1).subarray(0, 64).equals(readFileSync(second).subarray(0, 64))).toBe(true);
    expect(existsSync(join(instanceDir(), "data.img"))).toBe(true);
    expect(consoleLog().slice(from)).toMatch(/kiln: data filesystem kiln-data \(\/dev\/vda\) on \/var\/lib\/lxc/);
    let state = "";
    for (let i = 0; i < 60 && !/RUNNING/.test(state); i++) {
      state = (await ssh(port, "lxc-info -n keeper -s")).stdout;
      if (!/RUNNING/.test(state)) await new Promise((r) => setTimeout(r, 2000));
    }
    expect(state).toMatch(/RUNNING/);
  }, 1_800_000);
});
