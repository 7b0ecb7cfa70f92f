import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { configDifferences, cpuSharesToWeight, cpusetSize, judgeLxcfs, memoryBytes, parseProof } from "../../src/check/live.js";
import { parseConfig } from "../../src/kconfig/dotconfig.js";
import { fingerprint, hostId, judgeHostKey, loadKnownHosts, saveKnownHost } from "../../src/remote/known-hosts.js";

describe("host keys", () => {
  const fp = fingerprint(Buffer.from("key-a"));
  it("fingerprints like OpenSSH (SHA256, base64 without padding)", () => {
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
  it("refuses an unknown key unless told to trust it once", () => {
    expect(judgeHostKey({}, "h", fp, false)).toEqual({ ok: false, reason: "unknown" });
    expect(judgeHostKey({}, "h", fp, true)).toEqual({ ok: true, learned: true });
  });
  it("accepts the known key, always refuses a changed one", () => {
    expect(judgeHostKey({ h: fp }, "h", fp, false)).toEqual({ ok: true, learned: false });
    const other = fingerprint(Buffer.from("key-b"));
    expect(judgeHostKey({ h: fp }, "h", other, true)).toEqual({ ok: false, reason: "changed", expected: fp });
    // After flashing a kiln image, the key its manifest announces replaces the old one; no other does.
    expect(judgeHostKey({ h: fp }, "h", other, false, other)).toEqual({ ok: true, learned: true });
    expect(judgeHostKey({ h: fp }, "h", fp, false, other)).toEqual({ ok: true, learned: false });
    expect(judgeHostKey({ h: fp }, "h", "SHA256:third", false, other)).toEqual({ ok: false, reason: "changed", expected: fp });
  });
  it("names hosts as OpenSSH does", () => {
    expect(hostId("board", 22)).toBe("board");
    expect(hostId("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });
});

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

describe("kiln's known hosts file", () => {
  it("keeps every key learned by parallel connections", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kiln-kh-")), "known_hosts.json");
    await Promise.all(Array.from({ length: 20 }, (_, i) => saveKnownHost(`[127.0.0.1]:${2200 + i}`, `SHA256:k${i}`, file)));
    expect(Object.keys(await loadKnownHosts(file))).toHaveLength(20);
  });

  it("keeps every key saved by separate processes at once", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kiln-kh-")), "known_hosts.json");
    const mod = new URL("../../src/remote/known-hosts.ts", import.meta.url).pathname;
    const script = (i: number) =>
      `(async () => { const { saveKnownHost } = await import(${JSON.stringify(mod)}); for (let j = 0; j < 5; j++) await saveKnownHost("[10.0.0.${i}]:" + (2200 + j), "SHA256:p${i}k" + j, ${JSON.stringify(file)}); })();`;
    await Promise.all([1, 2, 3].map((i) => execa("npx", ["tsx", "-e", script(i)], { reject: true })));
    expect(Object.keys(await loadKnownHosts(file))).toHaveLength(15);
  }, 60_000);

  it("a file that cannot be parsed is an error, never an empty list that the next save would write over", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "kiln-kh-")), "known_hosts.json");
    writeFileSync(file, '{ "board-1": "SHA256:abc", ');
    await expect(loadKnownHosts(file)).rejects.toThrow(/is not valid JSON/);
    await expect(saveKnownHost("board-2", "SHA256:def", file)).rejects.toThrow(/is not valid JSON/);
    expect(readFileSync(file, "utf8")).toBe('{ "board-1": "SHA256:abc", ');
    writeFileSync(file, '["SHA256:abc"]');
    await expect(loadKnownHosts(file)).rejects.toThrow(/not a list of pinned keys/);
  });
});
