/** The rename table checked against Debian's real 6.1 tree, not only against itself. */
import { beforeAll, describe, expect, it } from "vitest";
import { parseExpr, symbolsOf } from "../../src/kconfig/expr.js";
import { loadRenames, type RenameEntry, resolveSymbol } from "../../src/kconfig/renames.js";
import { type KconfigTree, readKconfigTree } from "../../src/kconfig/tree.js";
import { versionAtLeast } from "../../src/versions.js";
import { kernelTree } from "../support/cli.js";

let tree: KconfigTree;
let table: RenameEntry[];
beforeAll(async () => {
  tree = await readKconfigTree(kernelTree(), { ARCH: "arm", SRCARCH: "arm" });
  table = await loadRenames();
}, 60_000);

const version = () => process.env.KILN_KERNEL_VERSION ?? "6.1";

describe("kconfig/renames.yaml against the real tree", () => {
  it("an entry gone by this version has no name left in the tree", () => {
    for (const e of table.filter((e) => e.gone && versionAtLeast(version(), e.gone))) {
      expect(e.names.filter((n) => tree.symbols.has(n)), `entry ${e.names.join(",")}`).toEqual([]);
    }
  });

  it("an entry that is not gone has its newest name in the tree", () => {
    for (const e of table.filter((e) => !e.gone)) {
      expect(tree.symbols.has(e.names[e.names.length - 1] as string), `entry ${e.names.join(",")}`).toBe(true);
    }
  });

  it("builtInWhen expressions parse and only name symbols of the tree", () => {
    for (const e of table.filter((e) => e.builtInWhen)) {
      for (const s of symbolsOf(parseExpr(e.builtInWhen as string))) expect(tree.symbols.has(s), `${s} in ${e.builtInWhen}`).toBe(true);
    }
  });

  it("no name appears in two entries", () => {
    const seen = new Map<string, number>();
    table.forEach((e, i) => e.names.forEach((n) => {
      expect(seen.get(n), n).toBeUndefined();
      seen.set(n, i);
    }));
  });

  it("resolves the seed's 3.0 names on 6.1", () => {
    const defined = (n: string) => tree.symbols.has(n);
    expect(resolveSymbol("CGROUP_MEM_RES_CTLR", table, defined)).toMatchObject({ kind: "renamed", name: "MEMCG" });
    expect(resolveSymbol("MEMCG_SWAP", table, defined)).toMatchObject({ kind: "gone" });
    expect(resolveSymbol("DEVPTS_MULTIPLE_INSTANCES", table, defined)).toMatchObject({ kind: "gone" });
    expect(resolveSymbol("IOSCHED_CFQ", table, defined)).toMatchObject({ kind: "renamed", name: "IOSCHED_BFQ" });
    expect(resolveSymbol("VETH", table, defined)).toEqual({ kind: "defined", name: "VETH" });
    expect(resolveSymbol("CGROUP_FREZER", table, defined)).toEqual({ kind: "unknown" });
  });
});
