/** kiln's readiness checks against the host's real lxc-checkconfig, run on many configs (slow: a minute). */
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

function kilnReport(configText: string): ReturnType<typeof checkReadiness> {
  const version = kernelVersionFromConfigText(configText);
  return checkReadiness(parseConfig(configText, "fixture"), version ? { kernelVersion: version } : {});
}

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

