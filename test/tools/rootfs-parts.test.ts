import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { copyrightLicenses, cutClosure, parseStatus, whoPulls } from "../../src/rootfs/dpkg.js";
import { parseModulesDep, selectModules } from "../../src/rootfs/modules.js";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { StageLog } from "../../src/exec.js";
import { sniffRamdisk, unpackRamdisk } from "../../src/rootfs/pack.js";
import { flashBudget, ramBudget } from "../../src/rootfs/report.js";
import { makeSbom, purl, toSpdx } from "../../src/rootfs/sbom.js";
import { readAuthorizedKeys } from "../../src/rootfs/stage.js";
import { kernelNeeds, unmetNeeds } from "../../src/rootfs/kernel-needs.js";

const tmp = () => mkdtempSync(join(tmpdir(), "kiln-rootfs-"));

describe("modules", () => {
  const index = parseModulesDep(
    [
      "kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko",
      "kernel/net/802/stp.ko: kernel/net/llc/llc.ko",
      "kernel/net/llc/llc.ko:",
      "kernel/drivers/net/veth.ko:",
      "kernel/fs/overlayfs/overlay.ko:",
    ].join("\n"),
    "kernel/drivers/net/macvlan.ko\nkernel/drivers/virtio/virtio-mmio.ko\n",
  );

  it("takes the board's modules with their dependencies", () => {
    expect(selectModules(index, ["bridge", "veth"])).toEqual({
      files: ["kernel/drivers/net/veth.ko", "kernel/net/802/stp.ko", "kernel/net/bridge/bridge.ko", "kernel/net/llc/llc.ko"],
      builtin: [],
      missing: [],
    });
  });

  it("tells built-in modules from missing ones (dashes and underscores are one)", () => {
    expect(selectModules(index, ["macvlan", "virtio_mmio", "nosuch"])).toEqual({ files: [], builtin: ["macvlan", "virtio_mmio"], missing: ["nosuch"] });
  });
});

const STATUS = `Package: lxc
Status: install ok installed
Installed-Size: 20387
Architecture: armhf
Source: lxc (1:5.0.2-1)
Version: 1:5.0.2-1+deb12u2
Depends: libc6 (>= 2.34), liblxc1 (= 1:5.0.2-1+deb12u2), lsb-base
Homepage: https://linuxcontainers.org/

Package: perl
Status: install ok installed
Architecture: armhf
Version: 5.36.0-7
Installed-Size: 100

Package: usrmerge
Status: install ok installed
Architecture: all
Version: 37
Depends: perl:any, libfile-find-rule-perl
Installed-Size: 10

Package: gone
Status: deinstall ok config-files
Version: 1
`;

describe("dpkg database", () => {
  const pkgs = parseStatus(STATUS);

  it("reads installed packages only, with source and dependencies", () => {
    expect(pkgs.map((p) => p.name)).toEqual(["lxc", "perl", "usrmerge"]);
    expect(pkgs[0]).toMatchObject({ version: "1:5.0.2-1+deb12u2", source: "lxc", installedSizeKiB: 20387, depends: ["libc6", "liblxc1", "lsb-base"] });
    expect(whoPulls(pkgs, "perl")).toEqual(["usrmerge"]);
  });

  it("knows what leaves with a cut package: what only it pulls in", () => {
    expect(cutClosure(pkgs, ["usrmerge"])).toEqual(["perl", "usrmerge"]);
    expect(cutClosure(pkgs, ["lxc"])).toEqual(["lxc"]);
  });

  it("reads licences from machine-readable copyright files only", () => {
    const dep5 = [
      "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
      "Upstream-Name: x",
      "",
      "Files: *",
      "Copyright: someone",
      "License: LGPL-2.1+",
      " long text",
      "",
      "Files: debian/*",
      "License: GPL-2+",
      "",
      "License: GPL-2+",
      " the text of the licence stanza itself",
    ].join("\n");
    expect(copyrightLicenses(dep5)).toEqual(["LGPL-2.1+", "GPL-2+"]);
    expect(copyrightLicenses("This is free-form text. License: GPL\n")).toEqual([]);
  });

  it("maps Debian's licence names onto SPDX where they exist", () => {
    expect(toSpdx("GPL-2+")).toBe("GPL-2.0-or-later");
    expect(toSpdx("Expat")).toBe("MIT");
    expect(toSpdx("BSD-3-clause")).toBe("BSD-3-Clause");
    expect(toSpdx("public-domain")).toBeUndefined();
    expect(toSpdx("Something-Custom")).toBeUndefined();
    expect(purl(pkgs[0] as (typeof pkgs)[number])).toBe("pkg:deb/debian/lxc@1%3A5.0.2-1%2Bdeb12u2?arch=armhf");
  });

  it("writes a CycloneDX SBOM with versions, licences and the dropped suites", async () => {
    const root = tmp();
    const { mkdirSync } = await import("node:fs");
    mkdirSync(join(root, "usr/share/doc/lxc"), { recursive: true });
    writeFileSync(join(root, "usr/share/doc/lxc/copyright"), "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: LGPL-2.1+\n");
    const text = await makeSbom({
      board: "qemu-virt",
      profile: "default",
      packages: pkgs,
      root,
      epoch: 1700000000,
      properties: [["kiln:suites:dropped", "bookworm-security (File has unexpected size)"]],
      tools: [{ name: "mmdebstrap", version: "1.3.5" }],
    });
    const bom = JSON.parse(text) as {
      bomFormat: string;
      specVersion: string;
      metadata: { timestamp: string; properties: { name: string; value: string }[] };
      components: { name: string; version: string; licenses?: { license: { id?: string; name?: string } }[]; properties: { name: string; value: string }[] }[];
    };
    expect(bom.bomFormat).toBe("CycloneDX");
    expect(bom.specVersion).toBe("1.5");
    expect(bom.metadata.timestamp).toBe("2023-11-14T22:13:20.000Z");
    expect(bom.metadata.properties).toContainEqual({ name: "kiln:suites:dropped", value: "bookworm-security (File has unexpected size)" });
    const lxc = bom.components.find((c) => c.name === "lxc");
    expect(lxc?.version).toBe("1:5.0.2-1+deb12u2");
    expect(lxc?.licenses).toEqual([{ license: { id: "LGPL-2.1-or-later" } }]);
    expect(bom.components.find((c) => c.name === "perl")?.properties).toContainEqual({ name: "kiln:license", value: "unknown: no machine-readable copyright file" });
  });
});

describe("kernel needs", () => {
  const all = ["BLK_DEV_INITRD", "RD_GZIP", "DEVTMPFS", "TMPFS", "BINFMT_SCRIPT", "UNIX", "PACKET", "BRIDGE"].map((o) => `CONFIG_${o}=y`).join("\n");
  it("finds a 6.1 kernel without 32-bit time syscalls (measured: dropbear aborts on Debian armhf)", () => {
    const unmet = unmetNeeds(`${all}\n# CONFIG_COMPAT_32BIT_TIME is not set\n`, "6.1.192", kernelNeeds("gzip", true));
    expect(unmet.map((n) => n.option)).toEqual(["COMPAT_32BIT_TIME"]);
    expect(unmet[0]?.why).toMatch(/futex/);
  });
  it("does not ask a 3.0 kernel for an option it cannot have, and asks for the board's decompressor", () => {
    expect(unmetNeeds(all.replace("CONFIG_RD_GZIP=y", ""), "3.0.6", kernelNeeds("lzma", true)).map((n) => n.option)).toEqual(["RD_LZMA"]);
  });
});

describe("budget", () => {
  it("keeps the unpacked root under 80% of half the RAM", () => {
    expect(ramBudget(512 * 1024 ** 2, 105 * 1024 ** 2)).toMatchObject({ ok: true, limit: Math.floor(256 * 1024 ** 2 * 0.8) });
    const big = ramBudget(512 * 1024 ** 2, 210 * 1024 ** 2);
    expect(big.ok).toBe(false);
    expect(big.note).toMatch(/half of it \(256\.0 MiB\).*210\.0 MiB does NOT fit/);
    expect(ramBudget(undefined, 1)).toMatchObject({ ok: true, limit: null });
    // The AX3: 1 GiB, a 180 MiB root (Plat'Home's largest) leaves 332 MiB in the tmpfs.
    const ax3 = ramBudget(1024 ** 3, 180 * 1024 ** 2);
    expect(ax3).toMatchObject({ ok: true, headroom: 332 * 1024 ** 2 });
    expect(ax3.note).toMatch(/332\.0 MiB of headroom; it is held once/);
  });

  it("says an unknown flash limit is unknown, and measures kernel + ramdisk against a known one", () => {
    const sum = (parts: number[]) => parts.reduce((a, b) => a + b, 64);
    expect(flashBudget(undefined, 10, 5, sum)).toMatchObject({ ok: true, limit: null, note: expect.stringMatching(/unknown .*not checked/) });
    expect(flashBudget(1000, 600, 300, sum)).toMatchObject({ ok: true, image: 964 });
    const over = flashBudget(1000, 700, 300, sum);
    expect(over.ok).toBe(false);
    expect(over.note).toMatch(/too much/);
  });
});

describe("inputs", () => {
  it("recognises ramdisk formats", async () => {
    const d = tmp();
    const cpio = Buffer.concat([Buffer.from("070701"), Buffer.alloc(200)]);
    writeFileSync(join(d, "a.cpio"), cpio);
    writeFileSync(join(d, "a.cpio.gz"), gzipSync(cpio));
    const ext2 = Buffer.alloc(2048);
    ext2[1080] = 0x53;
    ext2[1081] = 0xef;
    writeFileSync(join(d, "ext2.img"), ext2);
    writeFileSync(join(d, "junk"), "hello");
    expect(await sniffRamdisk(join(d, "a.cpio"))).toBe("cpio");
    expect(await sniffRamdisk(join(d, "a.cpio.gz"))).toBe("gzip");
    expect(await sniffRamdisk(join(d, "ext2.img"))).toBe("ext2");
    expect(await sniffRamdisk(join(d, "junk"))).toBe("unknown");
  });

  it("takes public keys and refuses private ones", async () => {
    const d = tmp();
    writeFileSync(join(d, "id.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake me@host\n");
    writeFileSync(join(d, "id"), "-----BEGIN OPENSSH PRIVATE KEY-----\nxxx\n");
    writeFileSync(join(d, "junk"), "hello\n");
    expect(await readAuthorizedKeys([join(d, "id.pub")])).toMatch(/^ssh-ed25519 AAAA/);
    await expect(readAuthorizedKeys([join(d, "id")])).rejects.toThrow(/private key/);
    await expect(readAuthorizedKeys([join(d, "junk")])).rejects.toThrow(/not an OpenSSH public key/);
  });

  it("unpacks a gzip cpio and an ext2 image given as --base-ramdisk", async () => {
    const d = tmp();
    const log = new StageLog(join(d, "log"));
    execFileSync("sh", ["-c", `mkdir -p ${d}/src/etc && echo vendor > ${d}/src/etc/issue && cd ${d}/src && find . | cpio --quiet -o -H newc | gzip > ${d}/base.cpio.gz`]);
    expect(await unpackRamdisk(join(d, "base.cpio.gz"), join(d, "a"), d, log)).toBe("cpio");
    expect(readFileSync(join(d, "a", "etc", "issue"), "utf8")).toBe("vendor\n");
    execFileSync("sh", ["-c", `mke2fs -q -t ext2 -d ${d}/src ${d}/base.ext2 4M && lzma -3 < ${d}/base.ext2 > ${d}/base.ext2.lzma`]);
    expect(await unpackRamdisk(join(d, "base.ext2.lzma"), join(d, "b"), d, log)).toBe("ext2");
    expect(readFileSync(join(d, "b", "etc", "issue"), "utf8")).toBe("vendor\n");
    writeFileSync(join(d, "junk"), "x".repeat(2000));
    await expect(unpackRamdisk(join(d, "junk"), join(d, "c"), d, log)).rejects.toThrow(/not a cpio archive or an ext2 image/);
  });
});
