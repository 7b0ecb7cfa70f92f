import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { loadProfile } from "../../src/rootfs/profile.js";
import { cgroupStyle, type NetworkOptions, renderTemplates, templateContext } from "../../src/rootfs/templates.js";
import { versionAtLeast } from "../../src/versions.js";

const snapshots = join(import.meta.dirname, "..", "fixtures", "rootfs", "snapshots");

interface Variant {
  name: string;
  board: string;
  kernel: { version: string; release: string };
  net: NetworkOptions;
  login: boolean;
}

const variants: Variant[] = [
  { name: "qemu-virt", board: "qemu-virt", kernel: { version: "6.1.192", release: "6.1.192" }, net: { net: "veth", dns: [] }, login: false },
  {
    name: "qemu-virt-macvlan-static",
    board: "qemu-virt",
    kernel: { version: "6.1.192", release: "6.1.192" },
    net: { net: "macvlan", address: "10.0.2.15/24", gateway: "10.0.2.2", dns: ["10.0.2.3"] },
    login: false,
  },
  { name: "openblocks-ax3", board: "openblocks-ax3", kernel: { version: "6.1.192", release: "6.1.192" }, net: { net: "veth", dns: [] }, login: true },
  // The vendor's 3.0 kernel of seed 004: no cgroup2.
  { name: "openblocks-ax3-vendor-3.0", board: "openblocks-ax3", kernel: { version: "3.0.6", release: "3.0.6" }, net: { net: "veth", dns: [] }, login: false },
];

async function render(v: Variant) {
  const board = await loadBoard(v.board);
  const profile = await loadProfile("default");
  return renderTemplates(templateContext(board, profile, v.kernel, v.net, v.login));
}

describe("rendered templates", () => {
  for (const v of variants) {
    it(`match the snapshot: ${v.name}`, async () => {
      const files = await render(v);
      expect(files.map((f) => f.path)).toEqual(["etc/default/lxc-net", "etc/fstab", "etc/hostname", "etc/hosts", "etc/inittab", "etc/lxc/default.conf", "etc/network/interfaces", "etc/resolv.conf", "init"]);
      for (const f of files) await expect(f.content).toMatchFileSnapshot(join(snapshots, v.name, f.path));
      expect(files.find((f) => f.path === "init")?.mode).toBe(0o755);
    });
  }

  it("qemu-virt: cgroup2, br0 over eth0 by DHCP, veth on br0, seed 004's devices for cgroup2", async () => {
    const files = Object.fromEntries((await render(variants[0] as Variant)).map((f) => [f.path, f.content]));
    expect(files["etc/fstab"]).toMatch(/^cgroup2\s+\/sys\/fs\/cgroup\s+cgroup2\s/m);
    expect(files["etc/fstab"]).not.toMatch(/^cgroup\s+\/cgroup/m);
    expect(files["etc/network/interfaces"]).toMatch(/auto br0\niface br0 inet dhcp\n\tbridge_ports eth0\n/);
    expect(files["etc/lxc/default.conf"]).toMatch(/lxc\.net\.0\.type = veth\nlxc\.net\.0\.link = br0\n/);
    expect(files["etc/lxc/default.conf"]).toMatch(/^lxc\.apparmor\.profile = unconfined$/m);
    for (const rule of ["c 108:0 rwm", "c 10:229 rwm", "b 7:0 rwm", "c 10:200 rwm"]) expect(files["etc/lxc/default.conf"]).toContain(`lxc.cgroup2.devices.allow = ${rule}`);
    // The console comes from the kernel's command line at boot, never from the board data.
    expect(files.init).toContain('echo "$tty::respawn:-/bin/bash" >>/etc/inittab');
    expect(files.init).not.toContain("ttyAMA0");
    expect(files.init).toMatch(/mount --bind \/usr \/newroot\/usr/);
    expect(files.init).toMatch(/mount --move \. \/ .*\n\texec chroot \. \/init/);
    expect(files.init).toContain("blkid -L kiln-data");
    expect(files.init).toContain('echo "kiln: ready"');
    expect(files.init).toMatch(/for m in veth bridge stp llc overlay macvlan; do/);
    expect(files["etc/hostname"]).toBe("kiln-virt\n");
  });

  it("AX3 on the vendor 3.0 kernel: seed 004's v1 mount and devices keys", async () => {
    const files = Object.fromEntries((await render(variants[3] as Variant)).map((f) => [f.path, f.content]));
    expect(files["etc/fstab"]).toMatch(/^cgroup\s+\/cgroup\s+cgroup\s+defaults\s+0 0$/m);
    expect(files["etc/fstab"]).not.toMatch(/^cgroup2/m);
    expect(files["etc/lxc/default.conf"]).toContain("lxc.cgroup.devices.allow = c 108:0 rwm");
    expect(files["etc/lxc/default.conf"]).not.toContain("cgroup2");
  });

  it("a root password turns the console shell into a getty on the kernel's console", async () => {
    const files = Object.fromEntries((await render(variants[2] as Variant)).map((f) => [f.path, f.content]));
    expect(files.init).toContain('echo "$tty::respawn:/sbin/getty -L $baud $tty vt100" >>/etc/inittab');
    expect(files.init).not.toMatch(/ttyS0/);
  });

  it("SSH takes keys only, also with a root password; password logins only when asked", async () => {
    const board = await loadBoard("openblocks-ax3");
    const profile = await loadProfile("default");
    const init = async (login: boolean, sshPw: boolean) =>
      (await renderTemplates(templateContext(board, profile, { version: "6.1.192", release: "6.1.192" }, { net: "veth", dns: [] }, login, sshPw))).find((f) => f.path === "init")?.content ?? "";
    expect(await init(true, false)).toMatch(/^dropbear -W 1048576 -s -r /m);
    expect(await init(false, true)).toMatch(/^dropbear -W 1048576 -s -r /m);
    expect(await init(true, true)).toMatch(/^dropbear -W 1048576 -r /m);
    expect(await init(true, true)).not.toMatch(/^dropbear -s/m);
  });

  it("macvlan: no bridge, containers on eth0, static address", async () => {
    const files = Object.fromEntries((await render(variants[1] as Variant)).map((f) => [f.path, f.content]));
    expect(files["etc/network/interfaces"]).not.toContain("br0");
    expect(files["etc/network/interfaces"]).toMatch(/iface eth0 inet static\n\taddress 10\.0\.2\.15\/24\n\tgateway 10\.0\.2\.2\n/);
    expect(files["etc/lxc/default.conf"]).toMatch(/lxc\.net\.0\.type = macvlan\nlxc\.net\.0\.macvlan\.mode = bridge\nlxc\.net\.0\.link = eth0/);
  });

  it("refuses a bad static address and a gateway without an address", async () => {
    const board = await loadBoard("qemu-virt");
    const profile = await loadProfile("default");
    expect(() => templateContext(board, profile, {}, { net: "veth", address: "10.0.2.300/24", dns: [] }, false)).toThrow(/not an IPv4 address/);
    expect(() => templateContext(board, profile, {}, { net: "veth", gateway: "10.0.2.2", dns: [] }, false)).toThrow(/need a static --address/);
  });

  it("chooses the cgroup layout from the kernel version", () => {
    expect(cgroupStyle("auto", "3.0.6")).toBe("v1");
    expect(cgroupStyle("auto", "4.4.302")).toBe("v1");
    expect(cgroupStyle("auto", "4.5")).toBe("v2");
    expect(cgroupStyle("auto", "6.1.192")).toBe("v2");
    expect(cgroupStyle("v1", "6.1.192")).toBe("v1");
    expect(cgroupStyle("auto", undefined)).toBe("v2");
    expect(versionAtLeast("6.1.0-rc1", "6.1")).toBe(true);
  });
});
