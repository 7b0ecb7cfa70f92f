import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { audit, type AuditEntry, planRequests, resolvedFragmentText, satisfied } from "../../src/kconfig/audit.js";
import { parseConfig } from "../../src/kconfig/dotconfig.js";
import type { Request } from "../../src/kconfig/fragments.js";
import type { RenameEntry } from "../../src/kconfig/renames.js";
import { type KconfigTree, readKconfigTree } from "../../src/kconfig/tree.js";

const KCONFIG = `
config NET
	bool "Networking"
if NET
menuconfig NET_SCHED
	bool "QoS"
if NET_SCHED
config NET_CLS
	bool
config NET_CLS_CGROUP
	tristate "cgroup classifier"
	select NET_CLS
	depends on CGROUPS
endif
endif
menuconfig CGROUPS
	bool "cgroups"
config MEMCG
	bool "memory controller"
	depends on CGROUPS
config SWAP
	bool "swap"
config BLK_CGROUP
	bool "blkio"
	depends on CGROUPS
config HELPER
	bool
config USER_OF_HELPER
	bool "uses helper"
	select HELPER
config EXPERT
	bool "expert"
config HIDDEN_KNOB
	bool "knob" if EXPERT
choice
	prompt "Preemption"
	default PREEMPT_NONE
config PREEMPT_NONE
	bool "none"
config PREEMPT_FULL
	bool "full"
endchoice
`;

let tree: KconfigTree;
beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), "kiln-audit-"));
  mkdirSync(join(root, "arch", "arm"), { recursive: true });
  writeFileSync(join(root, "Kconfig"), `${KCONFIG}\nsource "arch/$(SRCARCH)/Kconfig"\n`);
  writeFileSync(join(root, "arch", "arm", "Kconfig"), "config ARM\n\tdef_bool y\n");
  mkdirSync(dirname(join(root, "x")), { recursive: true });
  tree = await readKconfigTree(root, { ARCH: "arm", SRCARCH: "arm" });
});

const renames: RenameEntry[] = [
  { names: ["CGROUP_MEM_RES_CTLR", "MEMCG"] },
  { names: ["MEMCG_SWAP"], gone: "6.1", builtInWhen: "MEMCG && SWAP", note: "part of MEMCG" },
  { names: ["SECURITY_FILE_CAPABILITIES"], gone: "2.6.33" },
];

function req(text: string, fragment = "f"): Request[] {
  return parseConfig(text).assignments.map((a) => ({ ...a, fragment, file: `${fragment}.config`, optional: false }));
}

function run(requests: Request[], finalText: string): AuditEntry[] {
  return audit(planRequests(requests, renames, tree), tree, parseConfig(finalText), "6.1.0").entries;
}

describe("audit", () => {
  it("explains an unmet dependency from an enclosing if block with values and the fix", () => {
    const [e] = run(req("CONFIG_NET_CLS_CGROUP=y\n"), "CONFIG_NET=y\nCONFIG_CGROUPS=y\n");
    expect(e?.status).toBe("missing");
    expect(e?.reasons.join("\n")).toMatch(/NET_CLS_CGROUP: depends on .*NET_SCHED \[=n\]/);
    expect(e?.reasons.join("\n")).toMatch(/CGROUPS \[=y\]/);
    expect(e?.fix).toEqual(["CONFIG_NET_SCHED=y"]);
  });

  it("follows the blocking chain one level down", () => {
    const [e] = run(req("CONFIG_NET_CLS_CGROUP=y\n"), "CONFIG_CGROUPS=y\n");
    expect(e?.fix).toEqual(expect.arrayContaining(["CONFIG_NET_SCHED=y", "CONFIG_NET=y"]));
    expect(e?.reasons.some((r) => /NET_SCHED: depends on NET \[=n\]/.test(r))).toBe(true);
  });

  it("resolves a new name on a tree that only has the old one, and the reverse", () => {
    const [e] = run(req("CONFIG_CGROUP_MEM_RES_CTLR=y\n"), "CONFIG_CGROUPS=y\nCONFIG_MEMCG=y\n");
    expect(e).toMatchObject({ status: "ok", resolved: "MEMCG", final: "y", landed: true });
  });

  it("a gone option whose job is done is met; one whose job is not is explained", () => {
    const [ok] = run(req("CONFIG_MEMCG_SWAP=y\n"), "CONFIG_CGROUPS=y\nCONFIG_MEMCG=y\nCONFIG_SWAP=y\n");
    expect(ok).toMatchObject({ status: "builtin", landed: true, final: null });
    const [bad] = run(req("CONFIG_MEMCG_SWAP=y\n"), "CONFIG_CGROUPS=y\nCONFIG_MEMCG=y\n");
    expect(bad).toMatchObject({ status: "gone", landed: false });
    expect(bad?.reasons[0]).toMatch(/needs MEMCG \[=y\] && SWAP \[=n\]/);
    expect(bad?.fix).toEqual(["CONFIG_SWAP=y"]);
    const [caps] = run(req("CONFIG_SECURITY_FILE_CAPABILITIES=y\n"), "");
    expect(caps?.status).toBe("builtin");
  });

  it("an unknown name gets the closest spelling", () => {
    const [e] = run(req("CONFIG_NET_CLS_CGRUP=y\n"), "");
    expect(e).toMatchObject({ status: "unknown", didYouMean: "NET_CLS_CGROUP", final: null });
    const [far] = run(req("CONFIG_TOTALLY_DIFFERENT_THING=y\n"), "");
    expect(far?.didYouMean).toBeUndefined();
  });

  it("a symbol without a prompt names who selects it", () => {
    const [e] = run(req("CONFIG_HELPER=y\n"), "");
    expect(e?.reasons.join(" ")).toMatch(/no prompt.*selected by USER_OF_HELPER \[=n\]/);
    expect(e?.fix).toEqual(["CONFIG_USER_OF_HELPER=y"]);
  });

  it("a hidden prompt names its condition", () => {
    const [e] = run(req("CONFIG_HIDDEN_KNOB=y\n"), "");
    expect(e?.reasons.join(" ")).toMatch(/only visible if EXPERT \[=n\]/);
    expect(e?.fix).toEqual(["CONFIG_EXPERT=y"]);
  });

  it("a choice member names the member that was chosen", () => {
    const [e] = run(req("CONFIG_PREEMPT_FULL=y\n"), "CONFIG_PREEMPT_NONE=y\n");
    expect(e?.reasons.join(" ")).toMatch(/choice "Preemption", and PREEMPT_NONE \[=y\] is chosen/);
  });

  it("a request for n that a select forces on names the selector", () => {
    const [e] = run(req("# CONFIG_HELPER is not set\n"), "CONFIG_USER_OF_HELPER=y\nCONFIG_HELPER=y\n");
    expect(e?.status).toBe("missing");
    expect(e?.reasons.join(" ")).toMatch(/forced on by select from USER_OF_HELPER \[=y\]/);
  });

  it("a later fragment overrides an earlier one, and that is not a failure", () => {
    const requests = [...req("CONFIG_SWAP=y\n", "first"), ...req("# CONFIG_SWAP is not set\n", "second")];
    const report = audit(planRequests(requests, renames, tree), tree, parseConfig(""), "6.1.0");
    expect(report.entries[0]).toMatchObject({ status: "overridden", fragment: "first" });
    expect(report.entries[0]?.reasons[0]).toMatch(/overridden by second:1/);
    expect(report.entries[1]).toMatchObject({ status: "ok" });
    expect(report.ok).toBe(true);
  });

  it("m on a bool lands as y; m is met by y; y is not met by m", () => {
    const [e] = run(req("CONFIG_BLK_CGROUP=m\n"), "CONFIG_CGROUPS=y\nCONFIG_BLK_CGROUP=y\n");
    expect(e).toMatchObject({ status: "ok" });
    expect(e?.reasons).toContain("a bool in this kernel: m lands as y");
    expect(satisfied("m", "y", "tristate")).toBe(true);
    expect(satisfied("y", "m", "tristate")).toBe(false);
    expect(satisfied("n", "m", "tristate")).toBe(false);
    expect(satisfied("0x10", "16", "hex")).toBe(true);
    expect(satisfied("deadline", "cfq", "string")).toBe(false);
  });

  it("optional misses are warnings, required misses fail", () => {
    const requests = req("CONFIG_NET_CLS_CGROUP=y\n").map((r) => ({ ...r, optional: true }));
    const report = audit(planRequests(requests, renames, tree), tree, parseConfig(""), "6.1.0");
    expect(report.counts).toMatchObject({ failed: 0, warnings: 1 });
    expect(report.ok).toBe(true);
  });

  it("writes the resolved fragment that merge_config gets", () => {
    const planned = planRequests(req("CONFIG_CGROUP_MEM_RES_CTLR=y\nCONFIG_MEMCG_SWAP=y\nCONFIG_SWAP=y\n"), renames, tree);
    const text = resolvedFragmentText(planned, "f", "6.1.0");
    expect(text).toMatch(/^CONFIG_MEMCG=y$/m);
    expect(text).not.toMatch(/^CONFIG_CGROUP_MEM_RES_CTLR=/m);
    expect(text).toMatch(/^# CONFIG_MEMCG_SWAP: gone since 6.1/m);
    expect(text).toMatch(/^CONFIG_SWAP=y$/m);
  });
});
