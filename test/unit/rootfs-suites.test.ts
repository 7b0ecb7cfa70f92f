import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { SuiteSource } from "../../src/rootfs/apt-sources.js";
import { decide, parseFetchFailures } from "../../src/rootfs/suites.js";

const log = readFileSync(join(import.meta.dirname, "..", "fixtures", "rootfs", "mmdebstrap-security-fail.log"), "utf8");
const suites: SuiteSource[] = [
  { suite: "bookworm", uri: "http://mirror.example/debian", components: ["main"], kind: "base" },
  { suite: "bookworm-updates", uri: "http://mirror.example/debian", components: ["main"], kind: "update" },
  { suite: "bookworm-security", uri: "http://mirror.example/debian-security", components: ["main"], kind: "update" },
];

describe("suite failures", () => {
  it("names the suite and the reason from mmdebstrap's log (measured on 2026-11-25)", () => {
    const f = parseFetchFailures(log, suites);
    expect(f).toHaveLength(1);
    expect(f[0]?.suite).toBe("bookworm-security");
    expect(f[0]?.reason).toBe("File has unexpected size (334084 != 351124). Mirror sync in progress?");
    expect(f[0]?.url).toBe("http://mirror.example/debian-security/dists/bookworm-security/main/binary-armhf/Packages.xz");
  });

  it("finds the base suite from an Err: line alone", () => {
    const f = parseFetchFailures("Err:4 http://mirror.example/debian bookworm/main armhf Packages\n  Connection failed\n", suites);
    expect(f).toEqual([{ suite: "bookworm", url: "http://mirror.example/debian", reason: "Connection failed" }]);
  });

  it("finds nothing in a failure that is not a download", () => {
    expect(parseFetchFailures("E: Unable to locate package nosuchpkg\nE: mmdebstrap failed to run\n", suites)).toEqual([]);
  });

  const sec = parseFetchFailures(log, suites);

  it("retries a suite's first failure", () => {
    expect(decide(sec, suites, 1, false)).toMatchObject({ action: "retry" });
  });

  it("drops an update suite after its second failure, with a loud warning", () => {
    const d = decide(sec, suites, 2, false);
    expect(d.action).toBe("drop");
    if (d.action !== "drop") return;
    expect(d.drop.map((f) => f.suite)).toEqual(["bookworm-security"]);
    expect(d.warning).toMatch(/^WARNING: built WITHOUT bookworm-security: .*unexpected size/);
  });

  it("fails on an update suite with --strict-suites", () => {
    const d = decide(sec, suites, 2, true);
    expect(d).toMatchObject({ action: "fail" });
    if (d.action === "fail") expect(d.message).toMatch(/bookworm-security .*--strict-suites/);
  });

  it("fails when the base suite fails twice, strict or not", () => {
    const base = [{ suite: "bookworm", url: "http://mirror.example/debian/dists/bookworm/InRelease", reason: "404 Not Found" }];
    const d = decide(base, suites, 2, false);
    expect(d).toMatchObject({ action: "fail" });
    if (d.action === "fail") {
      expect(d.message).toMatch(/base suite could not be downloaded, twice: bookworm \(404 Not Found/);
      expect(d.hint).toMatch(/--mirror/);
    }
  });

  it("fails on a base failure even when an update suite failed with it", () => {
    const both = [...sec, { suite: "bookworm", url: "u", reason: "r" }];
    expect(decide(both, suites, 2, false)).toMatchObject({ action: "fail" });
  });
});
