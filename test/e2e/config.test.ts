/**
 * `kiln config` end to end on Debian's real 6.1 tree with the kernel's own
 * kconfig tools. Runs share one output directory per board, so the kconfig
 * programs are built once.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { kiln, testWork } from "../support/cli.js";

interface Option {
  symbol: string;
  resolved?: string;
  requested: string;
  final: string | null;
  fragment: string;
  status: string;
  landed: boolean;
  reasons: string[];
  fix: string[];
}
interface Report {
  ok: boolean;
  kernelVersion: string;
  defconfig: string;
  config: string;
  options: Option[];
}

const seedFragment = readFileSync(join(import.meta.dirname, "..", "..", "kconfig", "lxc.config"), "utf8");

describe("kiln config --board openblocks-ax3 on Debian's 6.1 tree", () => {
  const out = () => join(testWork(), "ax3");
  let report: Report;

  beforeAll(async () => {
    const r = await kiln(["config", "--board", "openblocks-ax3", "--out", out(), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    report = JSON.parse(r.stdout) as Report;
  }, 600_000);

  it("uses mvebu_v7_defconfig and the tree's real version", () => {
    expect(report.defconfig).toBe("mvebu_v7_defconfig");
    expect(report.kernelVersion).toBe(process.env.KILN_KERNEL_VERSION);
    expect(report.ok).toBe(true);
  });

  it("lists every option of the seed fragment with its final value", () => {
    const config = readFileSync(report.config, "utf8");
    const requested = [...seedFragment.matchAll(/^CONFIG_(\w+)=/gm)].map((m) => m[1]);
    const listed = report.options.filter((o) => o.fragment === "lxc");
    for (const name of requested) {
      // Options behind a version condition may be rendered out on 6.1.
      const entry = listed.find((o) => o.symbol === name);
      if (!entry) {
        expect(seedFragment).toMatch(new RegExp(`{{#(if|unless)[^}]*}}[^{]*CONFIG_${name}=`));
        continue;
      }
      if (entry.final !== null) {
        const line = new RegExp(`^CONFIG_${entry.resolved ?? name}=${entry.final}$`, "m");
        if (entry.final === "n") expect(config).not.toMatch(new RegExp(`^CONFIG_${name}=`, "m"));
        else expect(config).toMatch(line);
      }
    }
  });

  it("explains MEMCG_SWAP by what replaced it in 6.1", () => {
    const e = report.options.find((o) => o.symbol === "MEMCG_SWAP");
    expect(e?.final).toBeNull();
    expect(e?.status).toBe("builtin");
    expect(e?.reasons.join(" ")).toMatch(/MEMCG \[=y\] && SWAP \[=y\]/);
  });

  it("lands NET_CLS_CGROUP because the fragment enables NET_SCHED", () => {
    const e = report.options.find((o) => o.symbol === "NET_CLS_CGROUP");
    expect(e).toMatchObject({ final: "y", status: "ok" });
  });

  it("fails with exit 1 and names NET_SCHED when a later fragment turns it off", async () => {
    const frag = join(testWork(), "no-netsched.config");
    writeFileSync(frag, "# CONFIG_NET_SCHED is not set\n");
    const r = await kiln(["config", "--board", "openblocks-ax3", "--out", out(), "--fragment", frag, "--json"]);
    expect(r.exitCode).toBe(1);
    const rep = JSON.parse(r.stdout) as Report;
    const cls = rep.options.find((o) => o.symbol === "NET_CLS_CGROUP");
    expect(cls?.status).toBe("missing");
    expect(cls?.reasons.join("\n")).toMatch(/depends on .*NET_SCHED \[=n\]/);
    expect(cls?.fix).toContain("CONFIG_NET_SCHED=y");
    const sched = rep.options.find((o) => o.symbol === "NET_SCHED" && o.fragment === "lxc");
    expect(sched?.status).toBe("overridden");
    expect(r.stderr).toMatch(/did not land/);

    const allowed = await kiln(["config", "--board", "openblocks-ax3", "--out", out(), "--fragment", frag, "--allow-missing", "--json"]);
    expect(allowed.exitCode).toBe(0);
  }, 600_000);

  it("suggests the closest spelling for a misspelt option", async () => {
    const frag = join(testWork(), "typo.config");
    writeFileSync(frag, "CONFIG_CGROUP_FREZER=y\n");
    const r = await kiln(["config", "--board", "openblocks-ax3", "--out", out(), "--fragment", frag, "--json"]);
    expect(r.exitCode).toBe(1);
    const e = (JSON.parse(r.stdout) as Report).options.find((o) => o.symbol === "CGROUP_FREZER");
    expect(e?.status).toBe("unknown");
    expect(e?.reasons[0]).toMatch(/did you mean CONFIG_CGROUP_FREEZER\?/);
  }, 600_000);

  it("prints a human report with the reasons", async () => {
    const r = await kiln(["config", "--board", "openblocks-ax3", "--out", out()]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^MEMCG_SWAP\s+y\s+-\s+built in/m);
    expect(r.stdout).toMatch(/0 failed/);
  }, 600_000);

  it("kiln check passes on the merged config and fails without IPC_NS", async () => {
    const ok = await kiln(["check", "--config", report.config]);
    expect(ok.exitCode).toBe(0);

    const broken = join(testWork(), "no-ipc-ns.config");
    writeFileSync(broken, readFileSync(report.config, "utf8").replace(/^CONFIG_IPC_NS=y$/m, "# CONFIG_IPC_NS is not set"));
    const bad = await kiln(["check", "--config", broken, "--json"]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/IPC_NS/);
  }, 120_000);
});

describe("kiln config --board qemu-virt", () => {
  it("lands every requested option on tinyconfig", async () => {
    const r = await kiln(["config", "--board", "qemu-virt", "--out", join(testWork(), "virt"), "--json"]);
    expect(r.exitCode).toBe(0);
    const rep = JSON.parse(r.stdout) as Report;
    expect(rep.defconfig).toBe("tinyconfig");
    expect(rep.ok).toBe(true);
    // IPC_NS and CGROUP_PERF vanish on tinyconfig unless their dependencies come along.
    expect(rep.options.find((o) => o.symbol === "IPC_NS")?.final).toBe("y");
    expect(rep.options.find((o) => o.symbol === "CGROUP_PERF")?.final).toBe("y");
  }, 600_000);
});
