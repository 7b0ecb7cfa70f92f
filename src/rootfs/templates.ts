/**
 * The appliance's configuration files are handlebars templates in
 * rootfs/templates/ (the tree mirrors the target: templates/etc/fstab.hbs is
 * /etc/fstab), rendered in strict mode from board, kernel and option values.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { handlebars } from "../handlebars.js";
import type { Board } from "../board/schema.js";
import { InputError } from "../errors.js";
import { dataDir } from "../paths.js";
import { versionAtLeast } from "../versions.js";
import type { Profile } from "./profile.js";


export type CgroupStyle = "v1" | "v2";
export type NetMode = "veth" | "macvlan";

export interface NetworkOptions {
  net: NetMode;
  /** Static address in CIDR form; DHCP when absent. */
  address?: string;
  gateway?: string;
  dns: string[];
}

export interface TemplateContext {
  board: string;
  hostname: string;
  console: { tty: string; baud: number; login: boolean };
  iface: string;
  /** The interface that carries the appliance's own address: br0, or the NIC itself with macvlan. */
  hostIface: string;
  bridge: boolean;
  kernel: { version: string; release: string };
  cgroup: CgroupStyle;
  cgroupV2: boolean;
  network: { dhcp: boolean; address: string; gateway: string; dns: string[] };
  lxc: { type: NetMode; link: string; macvlan: boolean; devicesKey: string; devicesDenyKey: string; devices: { what: string; rule: string }[] };
  modules: string[];
  /** passwordLogin: dropbear takes root's password over SSH (only when asked: keys otherwise) */
  ssh: { port: number; passwordLogin: boolean };
  data: { label: string; mount: string; wait: number } | undefined;
  marker: string;
}

export const READY_MARKER = "kiln: ready";

/**
 * What every container needs (LXC's own common.conf set): on cgroup2 any allow
 * rule turns LXC's device program into an allow list, and without these even
 * /dev/null is refused inside the container (lxc-attach fails to open it).
 */
export const COMMON_DEVICES = [
  { what: "mknod of any character device (not its use)", rule: "c *:* m" },
  { what: "mknod of any block device (not its use)", rule: "b *:* m" },
  { what: "null", rule: "c 1:3 rwm" },
  { what: "zero", rule: "c 1:5 rwm" },
  { what: "full", rule: "c 1:7 rwm" },
  { what: "random", rule: "c 1:8 rwm" },
  { what: "urandom", rule: "c 1:9 rwm" },
  { what: "tty", rule: "c 5:0 rwm" },
  { what: "console", rule: "c 5:1 rwm" },
  { what: "ptmx", rule: "c 5:2 rwm" },
  { what: "pts/*", rule: "c 136:* rwm" },
] as const;

/** Seed 004's device rules: what a container needs to install udev and use ppp, fuse, loop, tun. */
export const SEED_DEVICES = [
  { what: "ppp", rule: "c 108:0 rwm" },
  { what: "fuse", rule: "c 10:229 rwm" },
  { what: "loop0", rule: "b 7:0 rwm" },
  { what: "tun", rule: "c 10:200 rwm" },
] as const;


/** cgroup2 exists since 4.5; older kernels (the AX3's vendor 3.0) get seed 004's v1 mount. */
export function cgroupStyle(setting: "auto" | "v1" | "v2", kernelVersion: string | undefined): CgroupStyle {
  if (setting !== "auto") return setting;
  if (!kernelVersion) return "v2";
  return versionAtLeast(kernelVersion, "4.5") ? "v2" : "v1";
}

function checkCidr(address: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(address);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) {
    throw new InputError(`--address ${address}: not an IPv4 address with a prefix length`, "e.g. --address 192.168.111.217/24 --gateway 192.168.111.1");
  }
}

export function templateContext(board: Board, _profile: Profile, kernel: { version?: string; release?: string }, net: NetworkOptions, login: boolean, sshPasswordLogin = false): TemplateContext {
  const rf = board.rootfs;
  if (!rf) throw new InputError(`board ${board.name} has no rootfs settings`, `add a rootfs: section (hostname, console) to board/${board.name}/board.yaml`);
  const cgroup = cgroupStyle(rf.cgroup, kernel.version);
  if (net.address) checkCidr(net.address);
  if (!net.address && (net.gateway || net.dns.length > 0)) throw new InputError("--gateway and --dns need a static --address", "leave them out for DHCP");
  const bridge = net.net === "veth";
  return {
    board: board.name,
    hostname: rf.hostname,
    console: { tty: rf.console.tty, baud: rf.console.baud, login },
    iface: rf.interface,
    hostIface: bridge ? "br0" : rf.interface,
    bridge,
    kernel: { version: kernel.version ?? "unknown", release: kernel.release ?? "unknown" },
    cgroup,
    cgroupV2: cgroup === "v2",
    network: { dhcp: !net.address, address: net.address ?? "", gateway: net.gateway ?? "", dns: net.dns },
    lxc: {
      type: net.net,
      link: bridge ? "br0" : rf.interface,
      macvlan: !bridge,
      devicesKey: cgroup === "v2" ? "lxc.cgroup2.devices.allow" : "lxc.cgroup.devices.allow",
      devicesDenyKey: cgroup === "v2" ? "lxc.cgroup2.devices.deny" : "lxc.cgroup.devices.deny",
      devices: [...COMMON_DEVICES, ...SEED_DEVICES].map((d) => ({ ...d })),
    },
    modules: [...rf.modules],
    ssh: { port: 22, passwordLogin: login && sshPasswordLogin },
    data: rf.data ? { ...rf.data } : undefined,
    marker: READY_MARKER,
  };
}

export interface RenderedFile {
  /** Path inside the root, e.g. etc/fstab. */
  path: string;
  content: string;
  mode: number;
}

const EXECUTABLE = new Set(["init"]);

export async function templateFiles(root = join(dataDir("rootfs"), "templates")): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".hbs"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export async function renderTemplates(ctx: TemplateContext, root = join(dataDir("rootfs"), "templates")): Promise<RenderedFile[]> {
  const hb = handlebars().create();
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  const out: RenderedFile[] = [];
  for (const file of await templateFiles(root)) {
    const path = relative(root, file).replace(/\.hbs$/, "");
    let content: string;
    try {
      content = hb.compile(await readFile(file, "utf8"), { strict: true, noEscape: true })(ctx);
    } catch (err) {
      throw new InputError(`${file}: cannot render: ${(err as Error).message}`);
    }
    out.push({ path, content, mode: EXECUTABLE.has(path) ? 0o755 : 0o644 });
  }
  return out;
}
