import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { listProfiles, loadProfile } from "../../src/rootfs/profile.js";
import { parseProfile } from "../../src/rootfs/profile-schema.js";

describe("rootfs profiles", () => {
  it("the shipped profiles are valid", async () => {
    expect(await listProfiles()).toEqual(expect.arrayContaining(["default", "minimal"]));
    const d = await loadProfile("default");
    expect(d.packages).toEqual(expect.arrayContaining(["lxc", "bridge-utils", "libcap2-bin", "debootstrap", "iproute2", "ifupdown", "kmod", "dropbear-bin", "openssh-sftp-server", "busybox"]));
    expect(d.strip).toMatchObject({ docs: true, man: true, locales: true });
    const m = await loadProfile("minimal");
    expect(m.packages.length).toBeLessThan(d.packages.length);
  });

  it("suggests a close name for an unknown profile", async () => {
    await expect(loadProfile("minimall")).rejects.toThrow(/unknown rootfs profile "minimall" \(did you mean "minimal"\?\)/);
  });

  it("reports every bad field with its path", () => {
    const text = ["description: x", "variant: tiny", "packages: [lxc, Not_A_Package]", "strip: { docs: yes-please }", "colour: blue"].join("\n");
    let msg = "";
    try {
      parseProfile(text, "bad.yaml");
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/^bad\.yaml: invalid rootfs profile:/);
    expect(msg).toMatch(/- variant: /);
    expect(msg).toMatch(/- packages\.1: not a Debian package name/);
    expect(msg).toMatch(/- strip\.docs: /);
    expect(msg).toMatch(/colour/);
  });

  it("needs at least one package and refuses a package that is also forbidden", () => {
    expect(() => parseProfile("description: x\npackages: []\n", "e.yaml")).toThrow(/packages/);
    expect(() => parseProfile("description: x\npackages: [perl]\nforbid: [perl]\n", "f.yaml")).toThrow(/perl both in packages and in forbid/);
  });

  it("says so when the YAML itself is broken", () => {
    expect(() => parseProfile("description: [x\n", "y.yaml")).toThrow(/y\.yaml: not valid YAML/);
  });

  it("loads a profile from a path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-profile-"));
    const f = join(dir, "mine.yaml");
    writeFileSync(f, "description: mine\npackages: [lxc]\n");
    const p = await loadProfile(f);
    expect(p).toMatchObject({ name: "mine", release: "bookworm", variant: "minbase", modules: "board" });
  });
});
