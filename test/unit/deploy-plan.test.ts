import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { backupFile, sidecarText, uImageInPartition } from "../../src/remote/backup.js";
import { BOOT_FILES, type BoardFile, changes, deployFiles, liveSkips, planDeploy, writes } from "../../src/remote/deploy.js";
import { loadProfile } from "../../src/rootfs/profile.js";
import { type RenderedFile, templateContext } from "../../src/rootfs/templates.js";

/** A legacy uImage header (Linux, ARM, kernel, no compression) in front of `data`, as mkimage writes it. */
function makeUImage(data: Buffer): Buffer {
  const h = Buffer.alloc(64);
  h.writeUInt32BE(0x27051956, 0);
  h.writeUInt32BE(1_700_000_000, 8);
  h.writeUInt32BE(data.length, 12);
  h.writeUInt32BE(0x40008000, 16);
  h.writeUInt32BE(0x40008000, 20);
  h.writeUInt32BE(crc32(data), 24);
  h.set([5, 2, 2, 0], 28);
  h.write("test", 32, "latin1");
  h.writeUInt32BE(crc32(h), 4);
  return Buffer.concat([h, data]);
}

const wanted: RenderedFile[] = [
  { path: "etc/fstab", content: "proc /proc proc defaults 0 0\n", mode: 0o644 },
  { path: "etc/hostname", content: "kiln-virt\n", mode: 0o644 },
  { path: "init", content: "#!/bin/bash\n", mode: 0o755 },
];

const same = (f: RenderedFile, mode = f.mode): BoardFile => ({ kind: "file", mode, size: Buffer.byteLength(f.content), content: Buffer.from(f.content) });
const apt = (installed: string[]) => ({ kind: "apt" as const, installed: new Set(installed) });

describe("planDeploy", () => {
  it("creates what is absent and installs what dpkg does not list", () => {
    const plan = planDeploy(wanted, new Map(), ["lxc", "bridge-utils"], apt(["bridge-utils"]));
    expect(plan.files.map((f) => [f.path, f.action, f.why])).toEqual([
      ["etc/fstab", "create", "new"],
      ["etc/hostname", "create", "new"],
      ["init", "create", "new"],
    ]);
    expect(plan.packages).toEqual({ kind: "apt", install: ["lxc"], present: ["bridge-utils"] });
    expect(changes(plan)).toEqual({ files: 3, packages: 1 });
    expect(plan.problems).toEqual([]);
  });

  it("finds nothing to do on a board that already has everything: the second run", () => {
    const current = new Map(wanted.map((f) => [f.path, same(f)]));
    const plan = planDeploy(wanted, current, ["lxc"], apt(["lxc"]));
    expect(plan.files.every((f) => f.action === "unchanged")).toBe(true);
    expect(changes(plan)).toEqual({ files: 0, packages: 0 });
    expect(writes(plan)).toEqual([]);
  });

  it("rewrites a file whose content differs, even at the same size, and only chmods one whose mode differs", () => {
    const [fstab, hostname, init] = wanted as [RenderedFile, RenderedFile, RenderedFile];
    const edited = Buffer.from(hostname.content.replace("kiln", "nope"));
    const current = new Map<string, BoardFile>([
      ["etc/fstab", { kind: "file", mode: 0o644, size: 3, content: undefined }],
      ["etc/hostname", { kind: "file", mode: 0o644, size: edited.length, content: edited }],
      ["init", same(init, 0o644)],
    ]);
    const plan = planDeploy([fstab, hostname, init], current, [], apt([]));
    expect(plan.files.map((f) => [f.path, f.action, f.why])).toEqual([
      ["etc/fstab", "update", "content differs"],
      ["etc/hostname", "update", "content differs"],
      ["init", "chmod", "mode 0644, want 0755"],
    ]);
    expect(writes(plan).map((f) => f.path)).toEqual(["etc/fstab", "etc/hostname"]);
  });

  it("replaces a symlink with the file, and refuses to touch a directory in the way", () => {
    const current = new Map<string, BoardFile>([
      ["etc/fstab", { kind: "symlink", mode: 0o777, size: 12 }],
      ["etc/hostname", { kind: "dir", mode: 0o755, size: 4096 }],
    ]);
    const plan = planDeploy(wanted, current, [], apt([]));
    expect(plan.files.find((f) => f.path === "etc/fstab")?.action).toBe("update");
    expect(plan.files.find((f) => f.path === "etc/hostname")).toBeUndefined();
    expect(plan.problems).toEqual([expect.stringContaining("/etc/hostname is a directory")]);
  });

  it("skips packages without apt, saying why and what was wanted", () => {
    const plan = planDeploy(wanted, new Map(), ["lxc", "lxc"], { kind: "skipped", why: "the board has no apt-get" });
    expect(plan.packages).toEqual({ kind: "skipped", why: "the board has no apt-get", wanted: ["lxc"] });
    expect(changes(plan).packages).toBe(0);
  });

  it("leaves resolv.conf to the DHCP client, but writes it for a static address", async () => {
    const board = await loadBoard("qemu-virt");
    const profile = await loadProfile("default");
    const dhcp = templateContext(board, profile, { version: "6.1.0" }, { net: "veth", dns: [] }, false);
    expect([...liveSkips(dhcp).keys()]).toEqual(["etc/resolv.conf"]);
    const fixed = templateContext(board, profile, { version: "6.1.0" }, { net: "veth", address: "10.0.0.2/24", dns: ["10.0.0.1"] }, false);
    expect(liveSkips(fixed).size).toBe(0);
  });

  it("rewrites boot and network files only on a root kiln built", async () => {
    const board = await loadBoard("qemu-virt");
    const profile = await loadProfile("default");
    const fixed = templateContext(board, profile, { version: "6.1.0" }, { net: "veth", address: "10.0.0.2/24", dns: ["10.0.0.1"] }, false);
    const foreign = liveSkips(fixed, false);
    expect([...foreign.keys()]).toEqual([...BOOT_FILES]);
    const files = await deployFiles(fixed, false);
    expect(files.files.map((f) => f.path).sort()).toEqual(["etc/default/lxc-net", "etc/lxc/default.conf", "etc/resolv.conf"]);
  });
});

describe("flash backups", () => {
  it("names the file by host, port, partition and UTC time", () => {
    const when = new Date("2025-03-04T05:06:07.890Z");
    expect(backupFile("/out/ax3", { host: "192.0.2.10", port: 22 }, "OpenBlocks A series Kernel Image", when)).toBe(
      "/out/ax3/backup/192.0.2.10-OpenBlocks_A_series_Kernel_Image-20250304T050607Z.bin",
    );
    expect(backupFile("/o", { host: "127.0.0.1", port: 2222 }, "image", when)).toBe("/o/backup/127.0.0.1_2222-image-20250304T050607Z.bin");
    expect(sidecarText("/o/backup/x.bin", "ab".repeat(32))).toBe(`${"ab".repeat(32)}  x.bin\n`);
  });

  it("cuts the uImage out of a partition dump, and explains a dump that holds none", () => {
    const image = makeUImage(Buffer.from("kernel bytes"));
    const dump = Buffer.concat([image, Buffer.alloc(4096, 0xff)]);
    expect(uImageInPartition(dump, "b.bin").equals(image)).toBe(true);
    expect(() => uImageInPartition(Buffer.alloc(4096, 0xff), "b.bin")).toThrow(/does not start with a uImage header: it holds only erased flash/);
    const damaged = Buffer.from(dump);
    damaged[70] = (damaged[70] ?? 0) ^ 1;
    expect(() => uImageInPartition(damaged, "b.bin")).toThrow(/does not verify: bad data CRC/);
  });
});
