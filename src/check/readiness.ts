/**
 * Container readiness of a kernel .config, decided from the config alone.
 *
 * The table covers every question LXC 5.0.2's lxc-checkconfig answers from a
 * config file (same labels, same symbols, same kernel-version rules), plus the
 * controllers and network devices the seed's OpenBlocks AX3 procedure relies
 * on. What lxc-checkconfig answers from the running host instead (cgroup mount
 * points, newuidmap, /proc/self/ns/cgroup) has no place here: a .config for
 * another board says nothing about the machine kiln runs on.
 */
import type { ParsedConfig } from "../kconfig/dotconfig.js";
import { configValue } from "../kconfig/dotconfig.js";
import { CheckFailedError } from "../errors.js";


/** Where kiln and the host's lxc-checkconfig disagree on one config. */
export interface CrossCheck {
  tool: "lxc-checkconfig";
  /** Labels both answered the same way. */
  agreed: number;
  disagreements: { label: string; kiln: string; lxc: string }[];
  /** Labels lxc-checkconfig answered that kiln has no check for: a gap in kiln's table. */
  lxcOnly: string[];
}

export type Need = "required" | "optional";

export type Section = "Namespaces" | "Control groups" | "Misc" | "Checkpoint/Restore";

export const SECTIONS: readonly Section[] = ["Namespaces", "Control groups", "Misc", "Checkpoint/Restore"];

export interface ReadinessCheck {
  id: string;
  /** lxc-checkconfig's wording, so reports and the cross check line up. */
  label: string;
  section: Section;
  /** kiln's verdict: a failing required check makes `kiln check` fail. */
  need: Need;
  /**
   * Acceptable symbol sets: the check passes when every symbol of any one set
   * is y or m. An empty set is a feature the kernel always has.
   */
  anyOf: string[][];
  /** What breaks without it, in one line. */
  why: string;
  /**
   * lxc-checkconfig's own "mandatory" flag for the same question; absent when
   * only kiln asks. Kept apart from `need` because kiln also requires what the
   * seed's containers use, which lxc-checkconfig only calls "missing".
   */
  lxcNeed?: Need;
  /** Kernel versions this variant of the check applies to: since <= v < before. */
  since?: string;
  before?: string;
  /** Shown next to the verdict, for checks no symbol decides. */
  note?: string;
}

export interface CheckResult {
  id: string;
  label: string;
  section: Section;
  need: Need;
  lxcNeed?: Need;
  ok: boolean;
  /** Assignments that made it pass (or the part of the closest set that is there), e.g. "CONFIG_IPC_NS=y". */
  found: string[];
  /** Symbol names (no CONFIG_ prefix) that would make it pass; empty when it passes. */
  missing: string[];
  why: string;
  note?: string;
}

export interface ReadinessReport {
  /** True when every required check passes. */
  ok: boolean;
  /** The version the version-dependent checks used; undefined means "assumed current", as lxc-checkconfig does. */
  kernelVersion?: string;
  results: CheckResult[];
  crossCheck?: CrossCheck;
}

// The seed's containers (004: veth on br0, macvlan, device allow-lists,
// memory/cpuset limits read back through LXCFS in 000) need more than the three
// namespaces lxc-checkconfig calls mandatory; those extra requirements are
// marked "seed" in the comments below.
export const READINESS_CHECKS: readonly ReadinessCheck[] = [
  // --- Namespaces ---
  {
    id: "namespaces",
    label: "Namespaces",
    section: "Namespaces",
    need: "required",
    lxcNeed: "required",
    anyOf: [["NAMESPACES"]],
    why: "no namespaces at all: a container would share the host's processes, network, hostname and IPC",
  },
  {
    id: "uts-ns", // seed: each guest has its own hostname
    label: "Utsname namespace",
    section: "Namespaces",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["UTS_NS"]],
    why: "containers cannot have their own hostname (lxc.uts.name)",
  },
  {
    id: "ipc-ns",
    label: "Ipc namespace",
    section: "Namespaces",
    need: "required",
    lxcNeed: "required",
    anyOf: [["IPC_NS"]],
    why: "containers would share System V IPC and POSIX message queues with the host",
  },
  {
    id: "pid-ns",
    label: "Pid namespace",
    section: "Namespaces",
    need: "required",
    lxcNeed: "required",
    anyOf: [["PID_NS"]],
    why: "a container's init would not be PID 1 and could see and signal host processes",
  },
  {
    id: "user-ns",
    label: "User namespace",
    section: "Namespaces",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["USER_NS"]],
    why: "no unprivileged containers (uid/gid maps); privileged containers still work",
  },
  {
    id: "net-ns", // seed: veth and macvlan interfaces move into the guest's namespace
    label: "Network namespace",
    section: "Namespaces",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["NET_NS"]],
    why: "containers cannot have their own network stack: veth and macvlan interfaces have nowhere to go",
  },
  {
    id: "devpts", // seed: the 3.0 kernel had to turn it on
    label: "Multiple /dev/pts instances",
    section: "Namespaces",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["DEVPTS_MULTIPLE_INSTANCES"]],
    before: "4.7",
    why: "containers share the host's /dev/pts: their consoles and ptys are visible to each other",
  },
  {
    // Linux 4.7 removed the symbol and made every devpts mount a new instance;
    // lxc-checkconfig stops asking then.
    id: "devpts",
    label: "Multiple /dev/pts instances",
    section: "Namespaces",
    need: "required",
    lxcNeed: "optional",
    anyOf: [[]],
    since: "4.7",
    note: "always on since Linux 4.7",
    why: "containers share the host's /dev/pts: their consoles and ptys are visible to each other",
  },

  // --- Control groups ---
  {
    id: "cgroups", // seed: every controller below hangs off it
    label: "Cgroups",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["CGROUPS"]],
    why: "no control groups: no resource limits, no device policy, no freezing",
  },
  {
    // lxc-checkconfig answers this one from the host's /proc/self/ns/cgroup,
    // whatever CONFIG says; in the kernel it comes with CGROUPS since 4.6.
    id: "cgroup-ns",
    label: "Cgroup namespace",
    section: "Control groups",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["CGROUPS"]],
    since: "4.6",
    why: "containers see the host's cgroup paths in /proc/self/cgroup",
  },
  {
    id: "cgroup-ns",
    label: "Cgroup namespace",
    section: "Control groups",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [],
    before: "4.6",
    note: "needs Linux 4.6 or later",
    why: "containers see the host's cgroup paths in /proc/self/cgroup",
  },
  {
    id: "cgroup-freezer", // seed: lxc-freeze on the 3.0 kernel's cgroup v1
    label: "Cgroup freezer",
    section: "Control groups",
    need: "required",
    anyOf: [["CGROUP_FREEZER"]],
    before: "5.2",
    why: "lxc-freeze cannot stop a container's processes (no v1 freezer controller)",
  },
  {
    // Since 5.2 cgroup v2 freezes through cgroup.freeze, built into the core;
    // the symbol only adds the v1 controller (its help text says so).
    id: "cgroup-freezer",
    label: "Cgroup freezer",
    section: "Control groups",
    need: "optional",
    anyOf: [["CGROUP_FREEZER"]],
    since: "5.2",
    why: "lxc-freeze fails on a cgroup v1 hierarchy (cgroup v2 freezes with cgroup.freeze, built in since 5.2)",
  },
  {
    id: "cgroup-device", // seed: lxc.cgroup.devices.allow for ppp, fuse, loop0, tun
    label: "Cgroup device",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["CGROUP_DEVICE"]],
    why: "no device policy: a container may open any device node and devices.allow lines fail",
  },
  {
    id: "cgroup-sched", // seed
    label: "Cgroup sched",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["CGROUP_SCHED"]],
    why: "no cpu controller: CPU shares and weights for containers cannot be set",
  },
  {
    id: "cgroup-cpuacct", // seed
    label: "Cgroup cpu account",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["CGROUP_CPUACCT"]],
    why: "no per-container CPU usage accounting (LXCFS builds a container's /proc/stat from it)",
  },
  {
    id: "memcg", // seed: 512M limits, read back through LXCFS
    label: "Cgroup memory controller",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["MEMCG"]],
    since: "3.6",
    why: "no memory limits for containers, and LXCFS cannot show a container its own meminfo",
  },
  {
    // The memory controller's name before 3.6, as the seed's 3.0 kernel spells it.
    id: "memcg",
    label: "Cgroup memory controller",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["CGROUP_MEM_RES_CTLR"]],
    before: "3.6",
    why: "no memory limits for containers, and LXCFS cannot show a container its own meminfo",
  },
  {
    // lxc-checkconfig only asks when SMP is set (CPUSETS depends on SMP);
    // kiln asks always, so a uniprocessor config says what to turn on.
    id: "cpuset", // seed: pinning a guest to CPU 0
    label: "Cgroup cpuset",
    section: "Control groups",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["SMP", "CPUSETS"]],
    why: "containers cannot be pinned to CPUs (cpuset.cpus); CPUSETS needs SMP",
  },

  // --- Misc ---
  {
    id: "veth", // seed: lxc.network.type=veth on br0
    label: "Veth pair device",
    section: "Misc",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["VETH"]],
    why: "no veth networking: a container cannot be plugged into a bridge",
  },
  {
    id: "macvlan", // seed: the full-speed alternative to veth
    label: "Macvlan",
    section: "Misc",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["MACVLAN"]],
    why: "no macvlan networking (lxc.net type macvlan)",
  },
  {
    id: "vlan", // seed: enabled on the board the article checked
    label: "Vlan",
    section: "Misc",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["VLAN_8021Q"]],
    why: "no 802.1Q VLAN interfaces (lxc.net type vlan)",
  },
  {
    id: "bridge", // seed: br0 over eth0
    label: "Bridges",
    section: "Misc",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["BRIDGE"]],
    why: "no bridge (br0, lxcbr0) to connect veth containers to the network",
  },
  {
    id: "netfilter-advanced",
    label: "Advanced netfilter",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["NETFILTER_ADVANCED"]],
    why: "the netfilter matches and targets below cannot be selected",
  },
  {
    // lxc-checkconfig asks for these on 4.x only (4.7 and later, by its own test).
    id: "nf-nat-ipv4",
    label: "CONFIG_NF_NAT_IPV4",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["NF_NAT_IPV4"]],
    since: "4.7",
    before: "5.0",
    why: "no IPv4 NAT for containers behind a host bridge such as lxcbr0",
  },
  {
    id: "nf-nat-ipv6",
    label: "CONFIG_NF_NAT_IPV6",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["NF_NAT_IPV6"]],
    since: "4.7",
    before: "5.0",
    why: "no IPv6 NAT for containers behind a host bridge such as lxcbr0",
  },
  {
    id: "masquerade-ipv4",
    label: "CONFIG_IP_NF_TARGET_MASQUERADE",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["IP_NF_TARGET_MASQUERADE"]],
    why: "lxc-net cannot masquerade containers' IPv4 traffic behind the host",
  },
  {
    id: "masquerade-ipv6",
    label: "CONFIG_IP6_NF_TARGET_MASQUERADE",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["IP6_NF_TARGET_MASQUERADE"]],
    why: "lxc-net cannot masquerade containers' IPv6 traffic behind the host",
  },
  {
    id: "xt-checksum",
    label: "CONFIG_NETFILTER_XT_TARGET_CHECKSUM",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["NETFILTER_XT_TARGET_CHECKSUM"]],
    why: "lxc-net cannot fill in DHCP reply checksums, which some container DHCP clients then drop",
  },
  {
    id: "xt-comment",
    label: "CONFIG_NETFILTER_XT_MATCH_COMMENT",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["NETFILTER_XT_MATCH_COMMENT"]],
    why: "iptables rules that carry a comment (-m comment), as container network tools write them, fail",
  },
  {
    id: "fuse",
    label: "FUSE (for use with lxcfs)",
    section: "Misc",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["FUSE_FS"]],
    why: "LXCFS cannot run: containers see the host's /proc/meminfo, cpuinfo and uptime instead of their limits",
  },

  // --- Checkpoint/Restore ---
  {
    id: "checkpoint-restore",
    label: "checkpoint restore",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["CHECKPOINT_RESTORE"]],
    why: "lxc-checkpoint (CRIU) cannot checkpoint or restore containers",
  },
  {
    id: "fhandle",
    label: "CONFIG_FHANDLE",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["FHANDLE"]],
    why: "no open_by_handle_at(2): CRIU and systemd inside a container need it",
  },
  {
    id: "eventfd",
    label: "CONFIG_EVENTFD",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["EVENTFD"]],
    why: "no eventfd(2): CRIU and most modern daemons need it",
  },
  {
    // lxc-checkconfig files it under CRIU, but LXC's own main loop (lxc-start's
    // monitor) is built on epoll; a tinyconfig-based kernel turns it off.
    id: "epoll",
    label: "CONFIG_EPOLL",
    section: "Checkpoint/Restore",
    need: "required",
    lxcNeed: "optional",
    anyOf: [["EPOLL"]],
    why: "no epoll(7): lxc-start's main loop cannot run",
  },
  {
    id: "unix-diag",
    label: "CONFIG_UNIX_DIAG",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["UNIX_DIAG"]],
    why: "CRIU cannot dump a container's UNIX sockets",
  },
  {
    id: "inet-diag",
    label: "CONFIG_INET_DIAG",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["INET_DIAG"]],
    why: "CRIU cannot dump a container's TCP/UDP sockets (ss shows nothing either)",
  },
  {
    id: "packet-diag",
    label: "CONFIG_PACKET_DIAG",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["PACKET_DIAG"]],
    why: "CRIU cannot dump a container's packet sockets",
  },
  {
    id: "netlink-diag",
    label: "CONFIG_NETLINK_DIAG",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["NETLINK_DIAG"]],
    why: "CRIU cannot dump a container's netlink sockets",
  },
  {
    id: "file-caps",
    label: "File capabilities",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [["SECURITY_FILE_CAPABILITIES"]],
    before: "2.6.33",
    why: "setcap'd binaries (ping, newuidmap) lose their capabilities inside containers",
  },
  {
    id: "file-caps",
    label: "File capabilities",
    section: "Checkpoint/Restore",
    need: "optional",
    lxcNeed: "optional",
    anyOf: [[]],
    since: "2.6.33",
    note: "always on since Linux 2.6.33",
    why: "setcap'd binaries (ping, newuidmap) lose their capabilities inside containers",
  },
];

/** "6.1.192" -> [6, 1, 192]; anything after the numbers ("-rc3", "+") is ignored. */
export function parseKernelVersion(version: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? "0")];
}

export function compareKernelVersions(a: string, b: string): number {
  const pa = parseKernelVersion(a);
  const pb = parseKernelVersion(b);
  if (!pa || !pb) throw new Error(`not a kernel version: ${pa ? b : a}`);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The version in a .config's header ("# Linux/arm 6.1.192 Kernel Configuration"),
 * the same line lxc-checkconfig reads; undefined when the header is missing.
 */
export function kernelVersionFromConfigText(text: string): string | undefined {
  for (const line of text.split("\n", 20)) {
    const m = /^#\s*Linux.*?\s(\d+\.\d+(?:\.\d+)?\S*)\s+Kernel Configuration/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

function applies(check: ReadinessCheck, version: string | undefined): boolean {
  // No version: assume the newest kernel, as lxc-checkconfig does.
  if (version === undefined) return check.before === undefined;
  if (check.since !== undefined && compareKernelVersions(version, check.since) < 0) return false;
  if (check.before !== undefined && compareKernelVersions(version, check.before) >= 0) return false;
  return true;
}

/** The checks that apply to a kernel version: one per id. */
export function checksFor(kernelVersion: string | undefined): ReadinessCheck[] {
  return READINESS_CHECKS.filter((c) => applies(c, kernelVersion));
}

function isOn(cfg: ParsedConfig, name: string): boolean {
  const a = cfg.values.get(name);
  // A quoted "y" is a string, not a tristate: the kernel would not read it as enabled.
  return a !== undefined && !a.quoted && (a.value === "y" || a.value === "m");
}

function evaluate(check: ReadinessCheck, cfg: ParsedConfig): CheckResult {
  const describe = (name: string): string => `CONFIG_${name}=${configValue(cfg, name)}`;
  const base = {
    id: check.id,
    label: check.label,
    section: check.section,
    need: check.need,
    why: check.why,
    ...(check.lxcNeed ? { lxcNeed: check.lxcNeed } : {}),
    ...(check.note ? { note: check.note } : {}),
  };
  const satisfied = check.anyOf.find((set) => set.every((s) => isOn(cfg, s)));
  if (satisfied) return { ...base, ok: true, found: satisfied.map(describe), missing: [] };
  // Point at the set that needs the fewest changes; ties keep table order.
  let best: string[] | undefined;
  for (const set of check.anyOf) {
    if (!best || set.filter((s) => !isOn(cfg, s)).length < best.filter((s) => !isOn(cfg, s)).length) best = set;
  }
  const set = best ?? [];
  return {
    ...base,
    ok: false,
    found: set.filter((s) => isOn(cfg, s)).map(describe),
    missing: set.filter((s) => !isOn(cfg, s)),
  };
}

export function checkReadiness(cfg: ParsedConfig, opts: { kernelVersion?: string } = {}): ReadinessReport {
  const version = opts.kernelVersion;
  if (version !== undefined && !parseKernelVersion(version)) {
    throw new Error(`not a kernel version: ${version}`);
  }
  const results = checksFor(version).map((c) => evaluate(c, cfg));
  return {
    ok: results.every((r) => r.ok || r.need === "optional"),
    ...(version !== undefined ? { kernelVersion: version } : {}),
    results,
  };
}

/** The word lxc-checkconfig prints for a result: "enabled", "required" or "missing". */
export function lxcStatusOf(result: CheckResult): string {
  if (result.ok) return "enabled";
  return result.lxcNeed === "required" ? "required" : "missing";
}

const COLOURS = { green: "\u001b[1;32m", red: "\u001b[1;31m", yellow: "\u001b[1;33m", reset: "\u001b[0m" };
const LABEL_WIDTH = 40;

function verdict(r: CheckResult): { text: string; colour: keyof typeof COLOURS } {
  const symbols = r.missing.map((s) => `CONFIG_${s}`).join(", ");
  const detail = [symbols, r.note].filter((s) => s).join("; ");
  if (r.ok) return { text: r.note ? `enabled (${r.note})` : "enabled", colour: "green" };
  if (r.need === "required") return { text: `required (${detail})`, colour: "red" };
  return { text: detail ? `missing (optional: ${detail})` : "missing (optional)", colour: "yellow" };
}

/** Human-readable report, grouped by section; colours only when asked for. */
export function formatReadiness(report: ReadinessReport, opts: { color?: boolean } = {}): string {
  const paint = (s: string, c: keyof typeof COLOURS): string => (opts.color ? `${COLOURS[c]}${s}${COLOURS.reset}` : s);
  const lines: string[] = [];
  lines.push(
    report.kernelVersion
      ? `Container readiness (Linux ${report.kernelVersion})`
      : "Container readiness (kernel version unknown: assuming a current kernel)",
  );
  for (const section of SECTIONS) {
    const rs = report.results.filter((r) => r.section === section);
    if (rs.length === 0) continue;
    lines.push("", `--- ${section} ---`);
    for (const r of rs) {
      const v = verdict(r);
      lines.push(`  ${`${r.label} `.padEnd(LABEL_WIDTH, ".")} ${paint(v.text, v.colour)}`);
      if (!r.ok) lines.push(`      ${r.why}`);
    }
  }
  const cc = report.crossCheck;
  if (cc) {
    lines.push("");
    if (cc.disagreements.length === 0) {
      lines.push(`${cc.tool} agrees on all ${cc.agreed} checks it makes from the config`);
    } else {
      lines.push(`${cc.tool} agrees on ${cc.agreed} checks and disagrees on ${cc.disagreements.length}:`);
      for (const d of cc.disagreements) lines.push(`  ${d.label}: kiln says ${d.kiln}, ${cc.tool} says ${d.lxc}`);
    }
    if (cc.lxcOnly.length > 0) lines.push(`${cc.tool} also checks what kiln does not: ${cc.lxcOnly.join(", ")}`);
  }
  const failedRequired = report.results.filter((r) => !r.ok && r.need === "required");
  const failedOptional = report.results.filter((r) => !r.ok && r.need === "optional");
  const required = report.results.filter((r) => r.need === "required").length;
  lines.push("");
  if (failedRequired.length > 0) {
    lines.push(
      paint(
        `NOT READY: ${failedRequired.length} of ${required} required checks fail: ${failedRequired.map((r) => r.label).join(", ")}`,
        "red",
      ),
    );
  } else {
    lines.push(paint(`READY: all ${required} required checks pass`, "green"));
  }
  if (failedOptional.length > 0) {
    lines.push(`${failedOptional.length} optional missing: ${failedOptional.map((r) => r.label).join(", ")}`);
  }
  return lines.join("\n") + "\n";
}

/** The error `kiln check` fails with, or undefined when the config is ready. */
export function readinessError(report: ReadinessReport, source: string): CheckFailedError | undefined {
  const failed = report.results.filter((r) => !r.ok && r.need === "required");
  if (failed.length === 0) return undefined;
  const symbols = [...new Set(failed.flatMap((r) => r.missing))];
  return new CheckFailedError(
    `${source} is not container-ready: ${failed.map((r) => r.label).join(", ")}`,
    symbols.length > 0 ? `turn on in the kernel config: ${symbols.map((s) => `CONFIG_${s}=y`).join(" ")}` : undefined,
  );
}
