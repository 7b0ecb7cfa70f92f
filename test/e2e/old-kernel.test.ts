/**
 * The seed's own flow: a vendor 3.0.x tree with obsax3_defconfig, where only the
 * old option names exist. The same fragments must resolve and the audit pass,
 * for the tree as a directory and as a tarball.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { kernelTree, kiln, testWork } from "../support/cli.js";
import { writeOldTree } from "../support/old-tree.js";

interface Option {
  symbol: string;
  resolved?: string;
  final: string | null;
  status: string;
}

describe("kiln config on a 3.0-style tree with the old option names", () => {
  const work = () => join(testWork(), "old");
  let conf: string;

  beforeAll(async () => {
    // The kconfig program of a real tree stands in for the 3.0 tree's own.
    const build = join(work(), "conf-build");
    mkdirSync(build, { recursive: true });
    await execa("make", ["-C", kernelTree(), `O=${build}`, "ARCH=arm", "CROSS_COMPILE=arm-linux-gnueabihf-", "allnoconfig"], { stdin: "ignore" });
    conf = join(build, "scripts", "kconfig", "conf");
    writeOldTree(join(work(), "linux-3.0.6"));
  }, 300_000);

  it.each(["directory", "tarball"])("resolves the fragments and passes the audit (%s)", async (kind) => {
    let src = join(work(), "linux-3.0.6");
    if (kind === "tarball") {
      src = join(work(), "linux-3.0.6.tar.gz");
      await execa("tar", ["-czf", src, "-C", work(), "linux-3.0.6"]);
    }
    const r = await kiln(["config", "--board", "openblocks-ax3", "--kernel-src", src, "--out", join(work(), `out-${kind}`), "--json"], {
      env: { KILN_TEST_CONF: conf, KILN_CACHE_DIR: join(work(), "cache") },
    });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    const rep = JSON.parse(r.stdout) as { ok: boolean; kernelVersion: string; defconfig: string; options: Option[] };
    expect(rep).toMatchObject({ ok: true, kernelVersion: "3.0.6", defconfig: "obsax3_defconfig" });
    const by = (s: string) => rep.options.find((o) => o.symbol === s);
    expect(by("MEMCG")).toMatchObject({ resolved: "CGROUP_MEM_RES_CTLR", final: "y", status: "ok" });
    expect(by("MEMCG_SWAP")).toMatchObject({ resolved: "CGROUP_MEM_RES_CTLR_SWAP", final: "y" });
    expect(by("RESOURCE_COUNTERS")).toMatchObject({ final: "y", status: "ok" });
    expect(by("DEVPTS_MULTIPLE_INSTANCES")).toMatchObject({ final: "y", status: "ok" });
    // Selected, not prompted: lands through CGROUP_MEM_RES_CTLR's select.
    expect(by("MM_OWNER")).toMatchObject({ final: "y", status: "ok" });
    // The seed's scheduler choices exist before 5.0 and are rendered in.
    expect(by("DEFAULT_IOSCHED")).toMatchObject({ final: "deadline", status: "ok" });
    // No mainline-only options are asked of a 3.0 tree.
    expect(by("ARM_APPENDED_DTB")).toBeUndefined();
  }, 300_000);
});
