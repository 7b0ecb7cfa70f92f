import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolvePathOptions, resolveUserPath } from "../../src/cli-paths.js";

const cwd = mkdtempSync(join(tmpdir(), "kiln-paths-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe("paths given on the command line", () => {
  it("are made absolute against the directory kiln started in", () => {
    const r = resolvePathOptions({ out: "out/x", image: "../u.img", ramdisk: "r.cpio", kernelSrc: "linux.tar.xz", inventory: "inv.yaml", identity: "k/id", authorizedKey: ["a.pub", "/abs/b.pub"], board: "qemu-virt", port: "22" }, cwd);
    expect(r).toEqual({
      out: join(cwd, "out/x"),
      image: join(cwd, "..", "u.img"),
      ramdisk: join(cwd, "r.cpio"),
      kernelSrc: join(cwd, "linux.tar.xz"),
      inventory: join(cwd, "inv.yaml"),
      identity: join(cwd, "k/id"),
      authorizedKey: [join(cwd, "a.pub"), "/abs/b.pub"],
    });
  });

  it("a fragment, profile or unit stays a name unless it looks like a path or names a file here", () => {
    writeFileSync(join(cwd, "mine.config"), "CONFIG_X=y\n");
    expect(resolveUserPath("docker", "name-or-path", cwd)).toBe("docker");
    expect(resolveUserPath("mine.config", "name-or-path", cwd)).toBe(join(cwd, "mine.config"));
    expect(resolveUserPath("./other.config", "name-or-path", cwd)).toBe(join(cwd, "other.config"));
    expect(resolveUserPath("192.0.2.10:22", "name-or-path", cwd)).toBe("192.0.2.10:22");
    // A folder of the same name (the checkout's bench/) does not make `--profile bench` a path.
    mkdirSync(join(cwd, "bench"), { recursive: true });
    expect(resolveUserPath("bench", "name-or-path", cwd)).toBe("bench");
    expect(resolvePathOptions({ fragment: ["docker", "mine.config"] }, cwd)).toEqual({ fragment: ["docker", join(cwd, "mine.config")] });
  });
});
