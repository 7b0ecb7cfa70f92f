/** kiln's Kconfig reader on the real Debian 6.1 tree (unpacked by the e2e global setup). */
import { beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import path from "node:path";
import { evalExpr, formatExpr, satisfyingAssignments, symbolsOf } from "../../src/kconfig/expr.js";
import { readKconfigTree, type KconfigTree } from "../../src/kconfig/tree.js";
import { kernelTree } from "../support/cli.js";
import { ARM, deps, only } from "../support/kconfig.js";


describe("readKconfigTree on the Debian linux 6.1 tree (ARCH=arm)", () => {
  const root = kernelTree();
  let tree: KconfigTree;

  beforeAll(async () => {
    if (!existsSync(path.join(root, "Kconfig"))) {
      throw new Error(`kernel tree not found at ${root}: unpack linux-source-6.1 there or set KILN_KERNEL_TREE`);
    }
    // How long this takes is measured by bench/kconfig-parse.sh, not asserted here.
    tree = await readKconfigTree(root, ARM);
  });

  it("reads the whole tree without warnings", () => {
    expect(tree.warnings).toEqual([]);
    expect(tree.symbols.size).toBeGreaterThan(10000);
  });

  it("combines enclosing if blocks with own depends on (net/sched/Kconfig)", () => {
    const def = only(tree, "NET_CLS_CGROUP");
    expect(def.file).toBe("net/sched/Kconfig");
    expect(def.type).toBe("tristate");
    expect(def.hasPrompt).toBe(true);
    const dep = def.dependsOn;
    if (!dep) throw new Error("NET_CLS_CGROUP has no dependencies");
    expect(symbolsOf(dep)).toEqual(expect.arrayContaining(["NET", "NET_SCHED", "CGROUPS"]));
    const value = (name: string): string | undefined => ({ NET: "y", CGROUPS: "y" })[name];
    expect(evalExpr(dep, value)).toBe(0);
    expect(satisfyingAssignments(dep, value, 2)).toEqual([{ name: "NET_SCHED", value: "y" }]);
    expect(formatExpr(dep, value)).toBe("NET [=y] && NET_SCHED [=n] && CGROUPS [=y]");
  });

  it("knows which cgroup symbols exist in 6.1", () => {
    expect(tree.symbols.has("MEMCG_SWAP")).toBe(false);
    expect(tree.symbols.has("MEMCG")).toBe(true);
    expect(only(tree, "BLK_CGROUP").type).toBe("bool");
    expect(only(tree, "ARM_APPENDED_DTB").file).toBe("arch/arm/Kconfig");
  });

  it("reads init/Kconfig dependencies", () => {
    expect(deps(tree, "IPC_NS")).toBe("NAMESPACES && (SYSVIPC || POSIX_MQUEUE)");
    expect(symbolsOf(only(tree, "CGROUP_PERF").dependsOn ?? { kind: "const", value: "y" })).toContain("PERF_EVENTS");
  });

  it("marks choice members", () => {
    const preempt = only(tree, "PREEMPT");
    expect(preempt.file).toBe("kernel/Kconfig.preempt");
    expect(preempt.choice?.prompt).toBe("Preemption Model");
    expect(only(tree, "PREEMPT_NONE").choice?.id).toBe(preempt.choice?.id);
    expect(only(tree, "PREEMPT_DYNAMIC").choice).toBeUndefined();
  });

  it("records reverse selects", () => {
    const bySched = tree.selectedBy.get("NET_SCH_FIFO")?.map((s) => s.by) ?? [];
    expect(bySched).toContain("NET_SCHED");
  });

  it("keeps compiler-probing macros opaque", () => {
    const ccIsGcc = only(tree, "CC_IS_GCC").defaults[0]?.value;
    expect(ccIsGcc?.kind).toBe("const");
    expect(ccIsGcc && formatExpr(ccIsGcc)).toMatch(/^\$\(success,/);
  });
});
