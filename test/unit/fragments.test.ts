import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findFragment, listFragments, loadFragment, type RenderContext } from "../../src/kconfig/fragments.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-frag-"));
function frag(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}
const ctx = (version: string, defined: string[] = []): RenderContext => ({
  kernelVersion: version,
  arch: "arm",
  board: "test",
  defined: (s) => defined.includes(s),
});

describe("fragments", () => {
  it("keeps source line numbers through handlebars blocks", async () => {
    const file = frag(
      "cond.config",
      ['CONFIG_A=y', '{{#if (kernelAtLeast "4.3")}}', "CONFIG_PIDS=y", "{{/if}}", '{{#unless (kernelAtLeast "5.0")}}', "CONFIG_CFQ=m", "{{/unless}}", "CONFIG_B=y"].join("\n"),
    );
    const old = await loadFragment({ name: "cond", file }, ctx("3.0.6"));
    expect(old.map((r) => `${r.name}@${r.line}`)).toEqual(["A@1", "CFQ@6", "B@8"]);
    const cur = await loadFragment({ name: "cond", file }, ctx("6.1.192"));
    expect(cur.map((r) => `${r.name}@${r.line}`)).toEqual(["A@1", "PIDS@3", "B@8"]);
  });

  it("`defined` asks the tree, `# optional` marks a wish", async () => {
    const file = frag("def.config", '{{#if (defined "CGROUP_PIDS")}}\nCONFIG_CGROUP_PIDS=y\n{{/if}}\nCONFIG_IP_VS=m # optional\n');
    const with_ = await loadFragment({ name: "def", file }, ctx("6.1", ["CGROUP_PIDS"]));
    expect(with_.map((r) => [r.name, r.optional])).toEqual([["CGROUP_PIDS", false], ["IP_VS", true]]);
    const without = await loadFragment({ name: "def", file }, ctx("6.1"));
    expect(without.map((r) => r.name)).toEqual(["IP_VS"]);
  });

  it("a bad line is reported at its line in the source file", async () => {
    const file = frag("bad.config", '{{#if (kernelAtLeast "2.6")}}\nCONFIG_OK=y\n{{/if}}\nCONFIG_BAD=yes\n');
    await expect(loadFragment({ name: "bad", file }, ctx("6.1"))).rejects.toThrow(`${file}:4: not a kernel config line`);
  });

  it("a template error names the file", async () => {
    const file = frag("tpl.config", "{{#if (nosuchhelper 1)}}\nCONFIG_A=y\n{{/if}}\n");
    await expect(loadFragment({ name: "tpl", file }, ctx("6.1"))).rejects.toThrow(/tpl\.config: template error/);
  });

  it("finds shipped fragments by name, suggests on a typo", async () => {
    expect(await listFragments()).toEqual(expect.arrayContaining(["docker", "lxc", "lxcfs"]));
    await expect(findFragment("dokker")).rejects.toThrow(/did you mean "docker"/);
    expect((await findFragment(join(dir, "def.config"))).name).toBe("def.config");
  });

  it("every shipped fragment renders and parses for old and new kernels", async () => {
    for (const name of await listFragments()) {
      const ref = await findFragment(name);
      for (const v of ["3.0.6", "4.19", "6.1.192"]) {
        // A tree that has the options the fragments ask about (the trial fragment asks for KEXEC).
        const reqs = await loadFragment(ref, ctx(v, ["KEXEC", "CGROUP_PIDS", "OVERLAY_FS", "ORION_WATCHDOG"]));
        expect(reqs.length).toBeGreaterThan(0);
        expect(reqs.every((r) => r.line > 0)).toBe(true);
      }
    }
  });
});
