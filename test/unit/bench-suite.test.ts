import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CPU_SUITE, cpuIndex, formatTable, parseIperf3, parseStressNg, ratio } from "../../src/bench/suite.js";
import { announce } from "../../src/commands/bench.js";

// Reports written by the real tools (stress-ng 0.15 --yaml, iperf3 3.12 -J), kept as they were.
const fixture = (name: string) => readFileSync(join(import.meta.dirname, "..", "fixtures", "bench", name), "utf8");

describe("stress-ng's and iperf3's reports", () => {
  it("reads bogo-ops per second (real time) of the stressor asked for", () => {
    const text = fixture("stress-ng-get.yaml");
    const want = Number(/bogo-ops-per-second-real-time: ([\d.]+)/.exec(text)?.[1]);
    expect(parseStressNg(text, "get")).toBe(want);
    expect(() => parseStressNg(text, "pipe")).toThrow(/no bogo-ops-per-second-real-time for pipe/);
    expect(() => parseStressNg("metrics: [", "get")).toThrow(/not YAML/);
  });

  it("reads what the client received in a reverse run, and iperf3's own error", () => {
    const text = fixture("iperf3-reverse.json");
    const doc = JSON.parse(text) as { start: { test_start: { reverse: number } }; end: { sum_received: { bits_per_second: number } } };
    expect(doc.start.test_start.reverse).toBe(1);
    expect(parseIperf3(text)).toBe(doc.end.sum_received.bits_per_second);
    expect(() => parseIperf3(fixture("iperf3-refused.json"))).toThrow(/iperf3: unable to connect to server: Connection refused/);
    expect(() => parseIperf3("iperf3: error - unable to connect")).toThrow(/no JSON report: iperf3: error - unable to connect/);
  });
});

describe("the host/container table", () => {
  it("ratio is container over host, as seed 004 wrote 768/937 = 81.9 %", () => {
    expect((ratio(937, 768) ?? 0) * 100).toBeCloseTo(81.96, 1);
    expect(ratio(undefined, 5)).toBeUndefined();
    expect(ratio(0, 5)).toBeUndefined();
  });

  it("the CPU index is the geometric mean of the ratios, none when a test has no ratio", () => {
    const rows = [
      { id: "a", what: "a", unit: "ops/s", ratio: 0.5 },
      { id: "b", what: "b", unit: "ops/s", ratio: 2 },
    ];
    expect(cpuIndex(rows)).toBeCloseTo(1, 10);
    expect(cpuIndex([...rows, { id: "c", what: "c", unit: "ops/s" }])).toBeUndefined();
  });

  it("prints one aligned row a test, Mbit/s from bits per second, the note where a figure is missing", () => {
    const t = formatTable("TCP", [
      { id: "veth", what: "TCP, veth on br0", unit: "Mbit/s", host: 937e6, container: 768e6, ratio: ratio(937e6, 768e6) },
      { id: "macvlan", what: "TCP, macvlan on eth0", unit: "Mbit/s", host: 937e6, note: "no br0 on the board" },
    ]).split("\n");
    expect(t[0]).toBe("TCP");
    expect(t[2]).toMatch(/^TCP, veth on br0 \(Mbit\/s\)\s+937\.0\s+768\.0\s+82\.0 %$/);
    expect(t[3]).toMatch(/937\.0\s+-\s+no br0 on the board$/);
    expect(new Set(t.slice(2).map((l) => l.indexOf("937.0"))).size).toBe(1);
  });

  it("the suite covers what UnixBench's index covered, each test once", () => {
    expect(new Set(CPU_SUITE.map((t) => t.id)).size).toBe(CPU_SUITE.length);
    for (const t of CPU_SUITE) expect(t.args).toContain(`--${t.stressor}`);
    // The announced bound grows with the measuring time and the containers.
    expect(announce(5, 2)).toBeGreaterThan(announce(5, 1));
    expect(announce(6, 2) - announce(5, 2)).toBe(CPU_SUITE.length * 2 + 3);
  });
});
