import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/kconfig/dotconfig.js";
import { checkReadiness, kernelVersionFromConfigText } from "../../src/check/readiness.js";
import { crossCheck, parseLxcCheckconfig, runHostLxcCheckconfig } from "../../src/check/lxc-checkconfig.js";
import { InputError } from "../../src/errors.js";

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

const hasTool = (() => {
  try {
    execFileSync("sh", ["-c", "command -v lxc-checkconfig"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasTool)("the host's lxc-checkconfig, run live", () => {
  const work = mkdtempSync(join(tmpdir(), "kiln-readiness-test-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("gives the same config answers as the saved captures", async () => {
    for (const name of PAIRS) {
      const out = await runHostLxcCheckconfig(join(FIXTURES, `${name}.config`));
      expect(out, name).toBeDefined();
      expect(parseLxcCheckconfig(out ?? ""), name).toEqual(parseLxcCheckconfig(fixture(`${name}.out`)));
    }
  });

  it("agrees with kiln when any one checked symbol is turned off", async () => {
    const full = fixture("mvebu_v7-lxc-6.1.config");
    const report = kilnReport(full);
    const symbols = [...new Set(report.results.flatMap((r) => r.found.map((f) => f.replace(/^CONFIG_(\w+)=.*$/, "$1"))))];
    expect(symbols.length).toBeGreaterThan(25);
    for (const symbol of symbols) {
      const text = full.replace(new RegExp(`^CONFIG_${symbol}=.*$`, "m"), `# CONFIG_${symbol} is not set`);
      expect(text, symbol).not.toBe(full);
      const path = join(work, `without-${symbol}.config`);
      writeFileSync(path, text);
      const out = await runHostLxcCheckconfig(path);
      const mutated = kilnReport(text);
      expect(mutated.results.some((r) => !r.ok), symbol).toBe(true);
      const cc = crossCheck(mutated, parseLxcCheckconfig(out ?? ""));
      expect(cc.disagreements, symbol).toEqual([]);
      expect(cc.lxcOnly, symbol).toEqual([]);
    }
  }, 60_000);

  it("agrees with kiln across the kernel versions where its questions change", async () => {
    // Old and new names side by side, and a config with none of them, under each header.
    const both = [
      "CONFIG_SMP=y",
      "CONFIG_NAMESPACES=y",
      "CONFIG_DEVPTS_MULTIPLE_INSTANCES=y",
      "CONFIG_CGROUP_MEM_RES_CTLR=y",
      "CONFIG_NF_NAT_IPV4=m",
      "CONFIG_SECURITY_FILE_CAPABILITIES=y",
    ].join("\n");
    const bodies = { both, none: "CONFIG_SMP=y\nCONFIG_NAMESPACES=y" };
    for (const version of ["2.6.32", "3.0.6", "3.5.7", "3.6.0", "4.6.7", "4.7.0", "4.20.17", "5.0.0", "6.1.192"]) {
      for (const [kind, body] of Object.entries(bodies)) {
        const text = `#\n# Linux/arm ${version} Kernel Configuration\n#\n${body}\n`;
        const path = join(work, `v${version}-${kind}.config`);
        writeFileSync(path, text);
        const lxc = parseLxcCheckconfig((await runHostLxcCheckconfig(path)) ?? "");
        const cc = crossCheck(kilnReport(text), lxc);
        expect(cc.disagreements, `${version} ${kind}`).toEqual([]);
        expect(cc.lxcOnly, `${version} ${kind}`).toEqual([]);
        expect(cc.agreed, `${version} ${kind}`).toBe(lxc.size);
      }
    }
  }, 60_000);

  it("reads a config whose path has spaces, which the script itself cannot", async () => {
    const dir = join(work, "a dir with spaces");
    mkdirSync(dir);
    const path = join(dir, "my .config");
    writeFileSync(path, fixture("mvebu_v7-6.1.config"));
    const out = await runHostLxcCheckconfig(path);
    expect(parseLxcCheckconfig(out ?? "").get("Ipc namespace")).toBe("required");
  });

  it("refuses a path that is not a file instead of letting it check the host's kernel", async () => {
    await expect(runHostLxcCheckconfig(join(work, "nope.config"))).rejects.toBeInstanceOf(InputError);
    await expect(runHostLxcCheckconfig(work)).rejects.toBeInstanceOf(InputError);
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
