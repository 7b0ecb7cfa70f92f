import { describe, expect, it } from "vitest";
import { kiln } from "../support/cli.js";

describe("kiln --help", () => {
  it("lists every pipeline command, and each has its own help", async () => {
    const r = await kiln(["--help"]);
    expect(r.exitCode).toBe(0);
    const commands = ["config", "kernel", "image", "build", "check", "inspect", "qemu", "flash", "restore", "deploy", "probe", "bench", "boards"];
    for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, "m"));
    for (const c of commands) {
      const h = await kiln([c, "--help"]);
      expect(h.exitCode, c).toBe(0);
      expect(h.stdout, c).toMatch(/Usage: kiln /);
    }
  }, 60_000);

  it("an unknown command says so and points at --help", async () => {
    const r = await kiln(["flsh"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command 'flsh'/);
    expect(r.stderr).toMatch(/--help/);
  });
});
