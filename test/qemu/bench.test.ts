/**
 * kiln bench on the emulated board: a root built with the bench profile
 * (stress-ng and iperf3), booted through U-Boot from flash, measured on the
 * board and in containers, with iperf3's server on this machine.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchReport } from "../../src/commands/bench.js";
import { kiln, testWork } from "../support/cli.js";
import { e2eKey as key } from "../support/e2e-key.js";
import { seedBuildDir } from "../support/seed-build.js";
import { withSharedDir } from "../support/shared-dir.js";
import { buildVirt, e2e, sshTo, startVirt, stateEnv, stopVirt, virtOut as base, withDebCache } from "../support/virt-board.js";

// The kernel of the default qemu-virt build, a root of the bench profile of its own.
const out = join(e2e, "qemu-virt-bench");
const instance = "bench";
let port: number;

const ssh = (...cmd: string[]) => sshTo(port, ...cmd);

describe("kiln bench on the qemu-virt board", () => {
  beforeAll(async () => {
    await withSharedDir(out, async () => {
      await withSharedDir(base, () => seedBuildDir(base, out));
      // The bench profile's packages may be downloaded into kiln's .deb cache, which rootfs.test.ts counts.
      await withDebCache(() => buildVirt(out, "--profile", "bench"));
    });
    ({ port } = await startVirt(instance, join(out, "uImage.qemu-virt")));
  }, 3_600_000);

  afterAll(async () => {
    await stopVirt(instance);
  });

  it("measures the CPU suite on the board and in a container, TCP to the board, a veth and a macvlan container; removes the containers", async () => {
    const r = await kiln(["bench", "--host", `127.0.0.1:${port}`, "--identity", key, "--accept-new-host-key", "--seconds", "2", "--out", join(testWork(), "bench-out")], { env: stateEnv() });
    expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
    // What a user reads: the seed's layout, host, container and their ratio on every row.
    expect(r.stderr).toMatch(/^kiln bench on 127\.0\.0\.1:\d+: 7 CPU tests of 2 s on the board and in a container, 3 TCP runs of 2 s; at most \d+ s$/m);
    expect(r.stdout).toMatch(/^\s+host\s+container\s+container\/host$/m);
    for (const what of ["Dhrystone 2 \\(integer\\) \\(ops\\/s\\)", "File Copy \\(ops\\/s\\)", "TCP, veth on br0 \\(Mbit\\/s\\)", "TCP, macvlan on br0 \\(Mbit\\/s\\)"]) {
      expect(r.stdout).toMatch(new RegExp(`^${what}\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+ %$`, "m"));
    }
    expect(r.stdout).toMatch(/^index \(geometric mean of the ratios\): [\d.]+ %$/m);
    expect(r.stdout).toMatch(/s of the \d+ s announced; containers removed\.$/m);
    // The same figures for machines, kept beside the log.
    const saved = /^report: (.+\.json)$/m.exec(r.stdout)?.[1] ?? "";
    const report = JSON.parse(readFileSync(saved, "utf8")) as BenchReport;
    expect(report.cpu.map((c) => c.id)).toEqual(["integer", "float", "syscall", "pipe", "switch", "fork", "copy"]);
    for (const row of report.cpu) {
      expect(row.host, row.id).toBeGreaterThan(0);
      expect(row.container, row.id).toBeGreaterThan(0);
      expect(row.ratio).toBeCloseTo((row.container ?? 0) / (row.host ?? 1), 10);
    }
    expect(report.cpuIndex).toBeGreaterThan(0);
    expect(report.network.map((n) => n.what)).toEqual(["TCP, veth on br0", "TCP, macvlan on br0"]);
    for (const row of report.network) {
      expect(row.host, row.id).toBeGreaterThan(0);
      expect(row.container, row.id).toBeGreaterThan(0);
    }
    // The report says what its numbers are worth here, and why the macvlan sits on br0.
    expect(report.emulated).toBe(true);
    expect(report.notes.join("\n")).toMatch(/emulated \(QEMU\): the absolute figures mean nothing/);
    expect(report.notes.join("\n")).toMatch(/The macvlan container sits on br0/);
    // kiln holds itself to the bound it announced (each run is cut at its share of it).
    expect(report.elapsedSeconds).toBeLessThanOrEqual(report.announcedSeconds);
    expect(report.containersLeft).toEqual([]);
    const left = await ssh("lxc-ls");
    expect(left.stdout).not.toMatch(/kiln-bench/);
  }, 900_000);

  it("a board without the tools is told how to get them; nothing is started", async () => {
    // The same board with iperf3 hidden, as the default image is.
    await ssh("mv /usr/bin/iperf3 /usr/bin/iperf3.hidden");
    try {
      const r = await kiln(["bench", "--host", `127.0.0.1:${port}`, "--identity", key, "--accept-new-host-key", "--seconds", "2", "--out", join(testWork(), "bench-out")], { env: stateEnv() });
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toMatch(/127\.0\.0\.1:\d+ has no iperf3: kiln installs benchmark tools only when asked/);
      expect(r.stderr).toMatch(/kiln build --board B --profile bench\), or where apt has room \(a disk root\): kiln deploy --host 127\.0\.0\.1:\d+ --profile bench/);
    } finally {
      await ssh("mv /usr/bin/iperf3.hidden /usr/bin/iperf3");
    }
    expect((await ssh("lxc-ls")).stdout).not.toMatch(/kiln-bench/);
  }, 120_000);
});
