import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/kconfig/dotconfig.js";
import {
  READINESS_CHECKS,
  checkReadiness,
  compareKernelVersions,
  formatReadiness,
  kernelVersionFromConfigText,
  readinessError,
  type CheckResult,
  type ReadinessReport,
} from "../../src/check/readiness.js";
import { CheckFailedError } from "../../src/errors.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "lxc-checkconfig");

// What a container kernel for the seed turns on, written out by hand from
// lxc-checkconfig's questions and seed 004's kconfig diff.
const FULL = `#
# Linux/arm 6.1.192 Kernel Configuration
#
CONFIG_SMP=y
CONFIG_NAMESPACES=y
CONFIG_UTS_NS=y
CONFIG_IPC_NS=y
CONFIG_PID_NS=y
CONFIG_USER_NS=y
CONFIG_NET_NS=y
CONFIG_CGROUPS=y
CONFIG_CGROUP_FREEZER=y
CONFIG_CGROUP_DEVICE=y
CONFIG_CGROUP_SCHED=y
CONFIG_CGROUP_CPUACCT=y
CONFIG_MEMCG=y
CONFIG_CPUSETS=y
CONFIG_VETH=m
CONFIG_MACVLAN=m
CONFIG_VLAN_8021Q=m
CONFIG_BRIDGE=m
CONFIG_NETFILTER_ADVANCED=y
CONFIG_IP_NF_TARGET_MASQUERADE=m
CONFIG_IP6_NF_TARGET_MASQUERADE=m
CONFIG_NETFILTER_XT_TARGET_CHECKSUM=m
CONFIG_NETFILTER_XT_MATCH_COMMENT=m
CONFIG_FUSE_FS=m
CONFIG_CHECKPOINT_RESTORE=y
CONFIG_FHANDLE=y
CONFIG_EVENTFD=y
CONFIG_EPOLL=y
CONFIG_UNIX_DIAG=y
CONFIG_INET_DIAG=y
CONFIG_PACKET_DIAG=y
CONFIG_NETLINK_DIAG=y
`;

function without(text: string, ...symbols: string[]): string {
  let out = text;
  for (const s of symbols) {
    const line = new RegExp(`^CONFIG_${s}=.*$`, "m");
    if (!line.test(out)) throw new Error(`CONFIG_${s} is not in the config to remove it from`);
    out = out.replace(line, `# CONFIG_${s} is not set`);
  }
  return out;
}

function check(text: string, kernelVersion?: string): ReadinessReport {
  return checkReadiness(parseConfig(text, "test.config"), kernelVersion ? { kernelVersion } : {});
}

function result(report: ReadinessReport, label: string): CheckResult {
  const r = report.results.find((x) => x.label === label);
  if (!r) throw new Error(`no result labelled ${label}: ${report.results.map((x) => x.label).join(", ")}`);
  return r;
}

describe("checkReadiness", () => {
  it("passes a full container config, every check included", () => {
    const report = check(FULL, "6.1.192");
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("fails a config without IPC_NS and names the check and the symbol", () => {
    const report = check(without(FULL, "IPC_NS"), "6.1.192");
    expect(report.ok).toBe(false);
    const ipc = result(report, "Ipc namespace");
    expect(ipc).toMatchObject({ ok: false, need: "required", missing: ["IPC_NS"] });
    expect(report.results.filter((r) => !r.ok).map((r) => r.label)).toEqual(["Ipc namespace"]);

    const text = formatReadiness(report);
    const line = text.split("\n").find((l) => l.includes("Ipc namespace"));
    expect(line).toMatch(/^ {2}Ipc namespace \.+ required \(CONFIG_IPC_NS\)$/);
    expect(text).toMatch(/NOT READY.*Ipc namespace/);

    const err = readinessError(report, "test.config");
    expect(err).toBeInstanceOf(CheckFailedError);
    expect(err?.message).toContain("Ipc namespace");
    expect(err?.hint).toContain("CONFIG_IPC_NS=y");
  });

  it("treats an absent symbol, 'is not set', =n and a quoted \"y\" as off, and =m as on", () => {
    for (const line of ["", "# CONFIG_VETH is not set", "CONFIG_VETH=n", 'CONFIG_VETH="y"']) {
      const text = FULL.replace("CONFIG_VETH=m", line);
      expect(result(check(text, "6.1.192"), "Veth pair device").ok, line).toBe(false);
    }
    const on = result(check(FULL, "6.1.192"), "Veth pair device");
    expect(on).toMatchObject({ ok: true, found: ["CONFIG_VETH=m"], missing: [] });
  });

  it("does not fail the whole report for a missing optional feature", () => {
    const report = check(without(FULL, "FUSE_FS", "USER_NS", "CHECKPOINT_RESTORE"), "6.1.192");
    expect(report.ok).toBe(true);
    expect(result(report, "FUSE (for use with lxcfs)")).toMatchObject({ ok: false, need: "optional", missing: ["FUSE_FS"] });
    const text = formatReadiness(report);
    expect(text).toMatch(/FUSE \(for use with lxcfs\) \.+ missing \(optional: CONFIG_FUSE_FS\)/);
    expect(text).toMatch(/^READY/m);
  });

  it("requires what the seed's containers use even where lxc-checkconfig only says missing", () => {
    for (const [symbol, label] of [
      ["CGROUP_FREEZER", "Cgroup freezer"],
      ["CGROUP_DEVICE", "Cgroup device"],
      ["CPUSETS", "Cgroup cpuset"],
      ["CGROUP_CPUACCT", "Cgroup cpu account"],
      ["MEMCG", "Cgroup memory controller"],
      ["CGROUP_SCHED", "Cgroup sched"],
      ["BRIDGE", "Bridges"],
      ["MACVLAN", "Macvlan"],
      ["VLAN_8021Q", "Vlan"],
      ["VETH", "Veth pair device"],
    ] as const) {
      // 4.19: the freezer is still the only way to freeze before 5.2.
      const report = check(without(FULL, symbol).replace("6.1.192", "4.19.0"), "4.19.0");
      expect(report.ok, symbol).toBe(false);
      expect(result(report, label), symbol).toMatchObject({ ok: false, need: "required" });
      expect(result(report, label).missing, symbol).toContain(symbol);
    }
  });

  it("passes 'Multiple /dev/pts instances' on 6.1 without DEVPTS_MULTIPLE_INSTANCES, which 4.7 removed", () => {
    expect(FULL).not.toContain("DEVPTS_MULTIPLE_INSTANCES");
    const devpts = result(check(FULL, "6.1.192"), "Multiple /dev/pts instances");
    expect(devpts.ok).toBe(true);
    expect(formatReadiness(check(FULL, "6.1.192"))).toMatch(/Multiple \/dev\/pts instances \.+ enabled \(always on since Linux 4\.7\)/);
  });

  it("asks for DEVPTS_MULTIPLE_INSTANCES before 4.7", () => {
    const old = FULL.replace("6.1.192", "4.6.7");
    const missing = result(check(old, "4.6.7"), "Multiple /dev/pts instances");
    expect(missing).toMatchObject({ ok: false, need: "required", missing: ["DEVPTS_MULTIPLE_INSTANCES"] });
    const withIt = result(check(`${old}CONFIG_DEVPTS_MULTIPLE_INSTANCES=y\n`, "4.6.7"), "Multiple /dev/pts instances");
    expect(withIt).toMatchObject({ ok: true, found: ["CONFIG_DEVPTS_MULTIPLE_INSTANCES=y"] });
    expect(result(check(FULL.replace("6.1.192", "4.7.0"), "4.7.0"), "Multiple /dev/pts instances").ok).toBe(true);
  });

  it("uses the pre-3.6 name of the memory controller on the seed's 3.0 kernel", () => {
    const seed3 = FULL.replace("6.1.192", "3.0.6");
    expect(result(check(seed3, "3.0.6"), "Cgroup memory controller")).toMatchObject({
      ok: false,
      missing: ["CGROUP_MEM_RES_CTLR"],
    });
    expect(result(check(`${seed3}CONFIG_CGROUP_MEM_RES_CTLR=y\n`, "3.0.6"), "Cgroup memory controller").ok).toBe(true);
  });

  it("accepts the seed 004 configuration as container-ready", () => {
    const text = readFileSync(join(FIXTURES, "seed004-3.0.6.config"), "utf8");
    const report = check(text, kernelVersionFromConfigText(text));
    expect(report.kernelVersion).toBe("3.0.6");
    expect(report.results.filter((r) => !r.ok && r.need === "required")).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("says which symbols are missing for a cpuset on a uniprocessor config", () => {
    const up = without(FULL, "SMP", "CPUSETS");
    expect(result(check(up, "6.1.192"), "Cgroup cpuset").missing).toEqual(["SMP", "CPUSETS"]);
  });

  it("assumes a current kernel when the version is unknown, as lxc-checkconfig does", () => {
    const report = check(FULL);
    expect(report.kernelVersion).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(result(report, "Multiple /dev/pts instances").ok).toBe(true);
    expect(report.results.some((r) => r.label === "CONFIG_NF_NAT_IPV4")).toBe(false);
    expect(formatReadiness(report)).toContain("kernel version unknown");
  });

  it("asks for NF_NAT_IPV4/IPV6 on 4.x kernels only", () => {
    const labels = (v: string): string[] => check(FULL, v).results.map((r) => r.label);
    expect(labels("4.9.0")).toEqual(expect.arrayContaining(["CONFIG_NF_NAT_IPV4", "CONFIG_NF_NAT_IPV6"]));
    expect(labels("6.1.192")).not.toContain("CONFIG_NF_NAT_IPV4");
    expect(labels("4.7.0")).toContain("CONFIG_NF_NAT_IPV4");
    expect(labels("4.20.17")).toContain("CONFIG_NF_NAT_IPV6");
    expect(labels("4.6.7")).not.toContain("CONFIG_NF_NAT_IPV4");
    expect(labels("5.0.0")).not.toContain("CONFIG_NF_NAT_IPV4");
  });

  it("gives one result per label whatever the version", () => {
    for (const v of ["2.6.32", "3.0.6", "4.6.0", "4.9.0", "5.1.0", "6.1.192", undefined]) {
      const labels = check(FULL, v).results.map((r) => r.label);
      expect(new Set(labels).size, String(v)).toBe(labels.length);
    }
  });

  it("rejects a version it cannot read", () => {
    expect(() => check(FULL, "six")).toThrow(/kernel version/);
  });

  it("finds the real mvebu_v7_defconfig not container-ready, and ready with the container fragment", () => {
    const plainText = readFileSync(join(FIXTURES, "mvebu_v7-6.1.config"), "utf8");
    const plain = check(plainText, kernelVersionFromConfigText(plainText));
    expect(plain.ok).toBe(false);
    const failedRequired = plain.results.filter((r) => !r.ok && r.need === "required").map((r) => r.label);
    expect(failedRequired).toEqual(expect.arrayContaining(["Namespaces", "Ipc namespace", "Pid namespace", "Cgroups"]));

    const lxcText = readFileSync(join(FIXTURES, "mvebu_v7-lxc-6.1.config"), "utf8");
    const lxc = check(lxcText, kernelVersionFromConfigText(lxcText));
    expect(lxc.results.filter((r) => !r.ok)).toEqual([]);
  });
});

describe("formatReadiness", () => {
  it("groups checks by section in lxc-checkconfig's order, without colours unless asked", () => {
    const text = formatReadiness(check(without(FULL, "PID_NS"), "6.1.192"));
    const headers = text.split("\n").filter((l) => l.startsWith("--- "));
    expect(headers).toEqual(["--- Namespaces ---", "--- Control groups ---", "--- Misc ---", "--- Checkpoint/Restore ---"]);
    expect(text).not.toContain("\u001b[");
    expect(text).toMatch(/Pid namespace \.+ required \(CONFIG_PID_NS\)\n +\S.*PID 1/);
    expect(formatReadiness(check(FULL, "6.1.192"), { color: true })).toContain("\u001b[1;32menabled");
  });

  it("reports a cross check's disagreements", () => {
    const report = check(FULL, "6.1.192");
    report.crossCheck = {
      tool: "lxc-checkconfig",
      agreed: 30,
      disagreements: [{ label: "Veth pair device", kiln: "enabled", lxc: "missing" }],
      lxcOnly: ["Something new"],
    };
    const text = formatReadiness(report);
    expect(text).toContain("Veth pair device: kiln says enabled, lxc-checkconfig says missing");
    expect(text).toContain("Something new");
  });
});

describe("kernel versions", () => {
  it("reads the version from a real .config header", () => {
    const text = readFileSync(join(FIXTURES, "mvebu_v7-6.1.config"), "utf8");
    expect(kernelVersionFromConfigText(text)).toBe("6.1.192");
    expect(kernelVersionFromConfigText("# Linux/x86_64 6.12.0-rc3 Kernel Configuration\n")).toBe("6.12.0-rc3");
    expect(kernelVersionFromConfigText("CONFIG_X=y\n")).toBeUndefined();
  });

  it("compares numerically, not as text", () => {
    expect(compareKernelVersions("4.10.0", "4.7")).toBeGreaterThan(0);
    expect(compareKernelVersions("2.6.33", "2.6.9")).toBeGreaterThan(0);
    expect(compareKernelVersions("6.1.192", "6.1.192-rc1")).toBe(0);
  });
});

// The real script is the specification: every symbol it greps must be in kiln's
// table, and its mandatory ones must be required by kiln too.
const SCRIPT = "/usr/bin/lxc-checkconfig";
describe.skipIf(!existsSync(SCRIPT))("coverage of the installed lxc-checkconfig", () => {
  const script = existsSync(SCRIPT) ? readFileSync(SCRIPT, "utf8") : "";
  const asked = [...script.matchAll(/is_enabled\s+(?:CONFIG_)?([A-Z0-9_]+)(\s+yes)?/g)].map((m) => ({
    symbol: m[1] as string,
    mandatory: m[2] !== undefined,
  }));

  it("finds what it asks", () => {
    expect(asked.length).toBeGreaterThan(20);
  });

  it("has a kiln check for every symbol it asks about", () => {
    const known = new Set(READINESS_CHECKS.flatMap((c) => c.anyOf.flat()));
    expect(asked.map((a) => a.symbol).filter((s) => !known.has(s))).toEqual([]);
  });

  it("marks its mandatory checks required, in its words and kiln's", () => {
    const mandatory = asked.filter((a) => a.mandatory).map((a) => a.symbol);
    expect(mandatory.length).toBeGreaterThan(0);
    for (const s of mandatory) {
      const checks = READINESS_CHECKS.filter((c) => c.anyOf.some((set) => set.includes(s)));
      for (const c of checks) expect(c, s).toMatchObject({ need: "required", lxcNeed: "required" });
    }
    const optional = asked.filter((a) => !a.mandatory).map((a) => a.symbol);
    for (const s of optional) {
      const checks = READINESS_CHECKS.filter((c) => c.anyOf.some((set) => set.includes(s)));
      for (const c of checks) expect(c.lxcNeed, s).toBe("optional");
    }
  });
});

describe("the readiness table is data (kconfig/readiness.yaml)", () => {
  it("a wrong entry is refused, naming the entry and the field", async () => {
    const { parseReadinessTable } = await import("../../src/check/readiness.js");
    expect(() => parseReadinessTable("- id: x\n  label: X\n  section: Misc\n  need: maybe\n  anyOf: [[VETH]]\n  why: w\n", "t.yaml")).toThrow(/t\.yaml: entry 0\.need/);
    expect(() => parseReadinessTable("- id: x\n  label: X\n  section: Misc\n  need: required\n  anyOf: [[CONFIG_VETH]]\n  why: w\n", "t.yaml")).toThrow(/a Kconfig symbol without CONFIG_/);
    expect(parseReadinessTable("- id: x\n  label: X\n  section: Misc\n  need: required\n  anyOf: [[VETH]]\n  why: w\n", "t.yaml")).toHaveLength(1);
  });
});
