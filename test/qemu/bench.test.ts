/**
 * kiln bench on the emulated board: a root built with the bench profile
 * (stress-ng and iperf3), booted through U-Boot from flash, measured on the
 * board and in containers, with iperf3's server on this machine.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchReport } from "../../src/commands/bench.js";
import { cacheDir } from "../../src/paths.js";
import { kiln, testWork } from "../support/cli.js";
import { e2eKey as key, ensureE2eKey } from "../support/e2e-key.js";
import { seedBuildDir } from "../support/seed-build.js";

// The kernel of the default qemu-virt build, a root of the bench profile of its own.
const base = join(cacheDir(), "e2e", "qemu-virt");
const out = join(cacheDir(), "e2e", "qemu-virt-bench");
const instance = "bench";
const stateEnv = () => ({ KILN_STATE_DIR: join(testWork(), "state") });
let port: number;

async function ssh(...cmd: string[]) {
  return execa("ssh", ["-i", key, "-p", String(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1", ...cmd], { reject: false });
}

describe("kiln bench on the qemu-virt board", () => {
  beforeAll(async () => {
    await ensureE2eKey();
    await seedBuildDir(base, out);
    const b = await kiln(["build", "--board", "qemu-virt", "--profile", "bench", "--out", out, "--authorized-key", `${key}.pub`, "--json"]);
    if (b.exitCode !== 0) throw new Error(`kiln build failed (${b.exitCode}):\n${b.stderr.slice(-3000)}`);
    const q = await kiln(["qemu", "--board", "qemu-virt", "--image", join(out, "uImage.qemu-virt"), "--instance", instance, "--timeout", "400", "--json"], { env: stateEnv() });
    if (q.exitCode !== 0) throw new Error(`kiln qemu failed (${q.exitCode}):\n${q.stderr}`);
    port = (JSON.parse(q.stdout) as { ssh: { port: number } }).ssh.port;
  }, 3_600_000);

  afterAll(async () => {
    await kiln(["qemu", "stop", "--instance", instance], { env: stateEnv() });
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
