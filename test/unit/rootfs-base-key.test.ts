/**
 * The key of a cached Debian base (src/rootfs/base-cache.ts): the same for
 * every build that would run the same mmdebstrap, wherever its output
 * directory is, and different when anything mmdebstrap is given differs.
 */
import { describe, expect, it } from "vitest";
import type { SuiteSource } from "../../src/rootfs/apt-sources.js";
import { baseKey } from "../../src/rootfs/base-cache.js";
import { parseProfile } from "../../src/rootfs/profile-schema.js";

const profile = (packages: string[]) => parseProfile(`description: test\npackages: [${packages.join(", ")}]\n`, "/x/rootfs/profiles/default.yaml");
const suites: SuiteSource[] = [{ suite: "bookworm", uri: "http://mirror.invalid/debian", components: ["main"], kind: "base" }];
const input = (over: Partial<Parameters<typeof baseKey>[0]> = {}) => ({
  profile: profile(["lxc", "busybox"]),
  suites,
  debArch: "armhf",
  target: "/home/u/out/qemu-virt/rootfs/.work/root",
  debCache: "/root/.cache/kiln/debs/bookworm-armhf",
  epoch: 1795713176,
  ...over,
});
const tools = { mmdebstrap: "mmdebstrap 1.3.5", qemuUser: "qemu-arm version 7.2.19", code: "c0de" };

describe("the key of a cached Debian base", () => {
  it("does not depend on the build's output directory", () => {
    expect(baseKey(input({ target: "/tmp/other/openblocks-ax3/rootfs/.work/root" }), suites, tools)).toBe(baseKey(input(), suites, tools));
  });

  it("changes with the packages, the architecture, the timestamp, the suites and the tools", () => {
    const k = baseKey(input(), suites, tools);
    const others = [
      baseKey(input({ profile: profile(["lxc", "busybox", "iperf3"]) }), suites, tools),
      baseKey(input({ debArch: "armel" }), suites, tools),
      baseKey(input({ epoch: 1795713177 }), suites, tools),
      baseKey(input(), [...suites, { suite: "bookworm-security", uri: "http://mirror.invalid/debian-security", components: ["main"], kind: "update" }], tools),
      baseKey(input(), suites, { ...tools, mmdebstrap: "mmdebstrap 1.4.0" }),
      baseKey(input(), suites, { ...tools, qemuUser: "qemu-arm version 8.0" }),
      baseKey(input(), suites, { ...tools, code: "c0de2" }),
    ];
    for (const o of others) expect(o).not.toBe(k);
    expect(new Set(others).size).toBe(others.length);
  });
});
