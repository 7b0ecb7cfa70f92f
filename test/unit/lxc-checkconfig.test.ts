import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/kconfig/dotconfig.js";
import { checkReadiness, kernelVersionFromConfigText } from "../../src/check/readiness.js";
import { crossCheck, parseLxcCheckconfig, runHostLxcCheckconfig } from "../../src/check/lxc-checkconfig.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "lxc-checkconfig");
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), "utf8");

// Captured on the build machine from the configs of the same name (see the README there).
const PAIRS = ["mvebu_v7-6.1", "mvebu_v7-lxc-6.1", "seed004-3.0.6", "linux-4.9", "no-version"];

// The questions LXC 5.0.2 answers from a 6.1 config, as it words them.
const LABELS_6_1 = [
  "Namespaces",
  "Utsname namespace",
  "Ipc namespace",
  "Pid namespace",
  "User namespace",
  "Network namespace",
  "Cgroups",
  "Cgroup device",
  "Cgroup sched",
  "Cgroup cpu account",
  "Cgroup memory controller",
  "Cgroup cpuset",
  "Veth pair device",
  "Macvlan",
  "Vlan",
  "Bridges",
  "Advanced netfilter",
  "CONFIG_IP_NF_TARGET_MASQUERADE",
  "CONFIG_IP6_NF_TARGET_MASQUERADE",
  "CONFIG_NETFILTER_XT_TARGET_CHECKSUM",
  "CONFIG_NETFILTER_XT_MATCH_COMMENT",
  "FUSE (for use with lxcfs)",
  "checkpoint restore",
  "CONFIG_FHANDLE",
  "CONFIG_EVENTFD",
  "CONFIG_EPOLL",
  "CONFIG_UNIX_DIAG",
  "CONFIG_INET_DIAG",
  "CONFIG_PACKET_DIAG",
  "CONFIG_NETLINK_DIAG",
  "File capabilities",
];

function kilnReport(configText: string): ReturnType<typeof checkReadiness> {
  const version = kernelVersionFromConfigText(configText);
  return checkReadiness(parseConfig(configText, "fixture"), version ? { kernelVersion: version } : {});
}

describe("parseLxcCheckconfig", () => {
  it("reads the real output for mvebu_v7_defconfig, keeping only what the config decides", () => {
    const parsed = parseLxcCheckconfig(fixture("mvebu_v7-6.1.out"));
    expect([...parsed.keys()].sort()).toEqual([...LABELS_6_1].sort());
    expect(parsed.get("Namespaces")).toBe("required");
    expect(parsed.get("Ipc namespace")).toBe("required");
    expect(parsed.get("Pid namespace")).toBe("required");
    expect(parsed.get("User namespace")).toBe("missing");
    expect(parsed.get("Veth pair device")).toBe("missing");
    const enabled = [...parsed].filter(([, s]) => s === "enabled").map(([l]) => l);
    expect(enabled.sort()).toEqual(["CONFIG_EPOLL", "CONFIG_EVENTFD", "CONFIG_FHANDLE", "CONFIG_INET_DIAG", "File capabilities"]);
  });

  it("drops the host's cgroup mounts, newuidmap remarks, banner and footer", () => {
    const raw = fixture("mvebu_v7-lxc-6.1.out");
    // The capture really does contain the host-only lines.
    expect(raw).toContain("Cgroup v1 mount points");
    expect(raw).toContain("newuidmap is not installed");
    expect(raw).toContain("Cgroup namespace: enabled");
    const labels = [...parseLxcCheckconfig(raw).keys()];
    for (const l of labels) expect(l).not.toMatch(/mount points|newuidmap|newgidmap|clone_children|^Note|^usage|LXC version|^ ?-|Cgroup namespace/);
    expect(labels.sort()).toEqual([...LABELS_6_1].sort());
  });

  it("reads the coloured terminal capture (script -qc) exactly like the plain one", () => {
    const tty = fixture("mvebu_v7-6.1.tty.out");
    expect(tty).toContain("\u001b[1;31mrequired");
    expect(tty).toContain("\r\n");
    expect(parseLxcCheckconfig(tty)).toEqual(parseLxcCheckconfig(fixture("mvebu_v7-6.1.out")));
  });

  it("reads the capture made without kmod, where 'lsmod: not found' splits lines", () => {
    const noKmod = fixture("mvebu_v7-lxc-6.1.no-kmod.out");
    expect(noKmod).toMatch(/Veth pair device: enabled\/usr\/bin\/lxc-checkconfig: \d+: lsmod: not found\n, not loaded/);
    const parsed = parseLxcCheckconfig(noKmod);
    expect(parsed.get("Veth pair device")).toBe("enabled");
    expect(parsed).toEqual(parseLxcCheckconfig(fixture("mvebu_v7-lxc-6.1.out")));
  });

  it("drops lsmod noise and probe suffixes wherever they land in a line", () => {
    const lines = [
      "--- Misc ---",
      "Veth pair device: enabledlsmod: not found",
      "Macvlan: enabled/bin/sh: 64: lsmod: not found, not loaded",
      "Vlan: enabled/usr/bin/lxc-checkconfig: line 64: lsmod: command not found",
      ", not loaded",
      "Bridges: enabled, loaded",
      "Advanced netfilter: missing",
      "lsmod: not found",
      "FUSE (for use with lxcfs): \u001b[1;32menabled\u001b[0;39m, not loaded",
    ];
    const parsed = parseLxcCheckconfig(lines.join("\n"));
    expect(Object.fromEntries(parsed)).toEqual({
      "Veth pair device": "enabled",
      Macvlan: "enabled",
      Vlan: "enabled",
      Bridges: "enabled",
      "Advanced netfilter": "missing",
      "FUSE (for use with lxcfs)": "enabled",
    });
  });

  it("keeps a status it does not know as text, and ignores the version warning", () => {
    const parsed = parseLxcCheckconfig("WARNING: Unable to detect version from configuration, assuming latest\nCgroups: maybe\n");
    expect(Object.fromEntries(parsed)).toEqual({ Cgroups: "maybe" });
    expect(parseLxcCheckconfig(fixture("no-version.out")).has("WARNING")).toBe(false);
  });

  it("sees the version-dependent questions in the old-kernel captures", () => {
    expect(parseLxcCheckconfig(fixture("seed004-3.0.6.out")).get("Multiple /dev/pts instances")).toBe("enabled");
    const v49 = parseLxcCheckconfig(fixture("linux-4.9.out"));
    expect(v49.get("CONFIG_NF_NAT_IPV4")).toBe("enabled");
    expect(v49.get("CONFIG_NF_NAT_IPV6")).toBe("missing");
    expect(v49.has("Cgroup cpuset")).toBe(false); // no SMP in that config
  });
});

describe("crossCheck against the real captures", () => {
  for (const name of PAIRS) {
    it(`agrees with lxc-checkconfig on ${name}`, () => {
      const lxc = parseLxcCheckconfig(fixture(`${name}.out`));
      const cc = crossCheck(kilnReport(fixture(`${name}.config`)), lxc);
      expect(cc.disagreements).toEqual([]);
      expect(cc.lxcOnly).toEqual([]);
      expect(cc.agreed).toBe(lxc.size);
      expect(cc.agreed).toBeGreaterThan(25);
    });
  }

  it("reports a disagreement when the answers differ", () => {
    // kiln reads the bare defconfig, lxc-checkconfig's answers are for the container config.
    const cc = crossCheck(kilnReport(fixture("mvebu_v7-6.1.config")), parseLxcCheckconfig(fixture("mvebu_v7-lxc-6.1.out")));
    expect(cc.disagreements).toContainEqual({ label: "Ipc namespace", kiln: "required", lxc: "enabled" });
    expect(cc.disagreements).toContainEqual({ label: "Veth pair device", kiln: "missing", lxc: "enabled" });
    expect(cc.agreed).toBe(5);
  });

  it("lists questions lxc-checkconfig asks that kiln has no check for", () => {
    const lxc = new Map([
      ["Namespaces", "enabled"],
      ["Time namespace", "enabled"],
    ]);
    const cc = crossCheck(kilnReport(fixture("mvebu_v7-lxc-6.1.config")), lxc);
    expect(cc).toEqual({ tool: "lxc-checkconfig", agreed: 1, disagreements: [], lxcOnly: ["Time namespace"] });
  });
});

describe("runHostLxcCheckconfig without the tool", () => {
  it("returns undefined when lxc-checkconfig is not installed", async () => {
    const empty = mkdtempSync(join(tmpdir(), "kiln-empty-path-"));
    const config = join(empty, "x.config");
    writeFileSync(config, "CONFIG_NAMESPACES=y\n");
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      expect(await runHostLxcCheckconfig(config)).toBeUndefined();
    } finally {
      process.env.PATH = saved;
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
