import { describe, expect, it } from "vitest";
import { configDifferences, cpuSharesToWeight, cpusetSize, judgeLxcfs, memoryBytes, parseProof } from "../../src/check/live.js";
import { parseConfig } from "../../src/kconfig/dotconfig.js";

describe("live check parsing", () => {
  it("reads the proof script's lines through a pty's CRs and noise", () => {
    const out = "lxc-create: noise\r\nKILN-CHECK create ok busybox container created\r\nKILN-CHECK memory ok memory.max=536870912\r\nKILN-CHECK bridge fail no answer from 10.0.2.77 over br0\r\n";
    expect(parseProof(out)).toEqual([
      { id: "create", ok: true, detail: "busybox container created" },
      { id: "memory", ok: true, detail: "memory.max=536870912" },
      { id: "bridge", ok: false, detail: "no answer from 10.0.2.77 over br0" },
    ]);
  });
  it("memory sizes", () => {
    expect(memoryBytes("512M")).toBe(536870912);
    expect(memoryBytes("1G")).toBe(1073741824);
    expect(memoryBytes("lots")).toBeNaN();
  });
  it("compares the built and the running config symbol by symbol", () => {
    const built = parseConfig("CONFIG_IPC_NS=y\nCONFIG_VETH=m\n");
    const running = parseConfig("# CONFIG_IPC_NS is not set\nCONFIG_VETH=m\nCONFIG_EXTRA=y\n");
    expect(configDifferences(built, running)).toEqual(["EXTRA: built n, running y", "IPC_NS: built y, running n"]);
    expect(configDifferences(built, built)).toEqual([]);
  });
});

describe("the limits of seeds 000, 002 and 003", () => {
  it("maps Docker's --cpu-shares to cpu.weight as runc does", () => {
    // runc's ConvertCPUSharesToCgroupV2Value: 1 + ((shares - 2) * 9999) / 262142, integer division
    expect(cpuSharesToWeight(2)).toBe(1);
    expect(cpuSharesToWeight(512)).toBe(20);
    expect(cpuSharesToWeight(1024)).toBe(39);
    expect(cpuSharesToWeight(262144)).toBe(10000);
  });

  it("counts the CPUs of a cpuset list", () => {
    expect(cpusetSize("0")).toBe(1);
    expect(cpusetSize("0-1")).toBe(2);
    expect(cpusetSize("0-2,5")).toBe(4);
  });

  it("judges LXCFS by the container's figures against the limit and the board's", () => {
    const limits = { memoryBytes: 256 * 1024 * 1024, cpus: 1 };
    expect(judgeLxcfs("lxcfs-memory", "container=262144 board=500000", limits).ok).toBe(true);
    // Without LXCFS the container sees the board's memory.
    const bare = judgeLxcfs("lxcfs-memory", "container=500000 board=500000", limits);
    expect(bare.ok).toBe(false);
    expect(bare.detail).toMatch(/262144/);
    // A limit above the board's memory: the board's figure is what LXCFS shows.
    expect(judgeLxcfs("lxcfs-memory", "container=500000 board=500000", { ...limits, memoryBytes: 1024 ** 3 }).ok).toBe(true);
    expect(judgeLxcfs("lxcfs-cpus", "container=1 board=2", limits).ok).toBe(true);
    expect(judgeLxcfs("lxcfs-cpus", "container=2 board=2", limits).ok).toBe(false);
    expect(judgeLxcfs("lxcfs-cpus", "container= board=2", limits).ok).toBe(false);
  });
});
