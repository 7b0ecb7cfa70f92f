/**
 * kiln bench's data and its pure parts: which stress-ng runs stand for the
 * tests of UnixBench's index (seed 004 measured host against guest with it),
 * reading stress-ng's and iperf3's reports, and the host/container table.
 */
import { parse as parseYaml } from "yaml";
import { KilnError } from "../errors.js";

export interface CpuTest {
  id: string;
  /** what UnixBench's index called it (seed 004's table) */
  unixbench: string;
  /** stress-ng's arguments: one instance of one stressor */
  args: readonly string[];
  /** the stressor's name in stress-ng's report */
  stressor: string;
}

export const CPU_SUITE: readonly CpuTest[] = [
  { id: "integer", unixbench: "Dhrystone 2 (integer)", stressor: "cpu", args: ["--cpu", "1", "--cpu-method", "int32"] },
  { id: "float", unixbench: "Whetstone (double precision)", stressor: "cpu", args: ["--cpu", "1", "--cpu-method", "double"] },
  { id: "syscall", unixbench: "System Call Overhead", stressor: "get", args: ["--get", "1"] },
  { id: "pipe", unixbench: "Pipe Throughput", stressor: "pipe", args: ["--pipe", "1"] },
  { id: "switch", unixbench: "Pipe-based Context Switching", stressor: "switch", args: ["--switch", "1"] },
  { id: "fork", unixbench: "Process Creation", stressor: "fork", args: ["--fork", "1"] },
  { id: "copy", unixbench: "File Copy", stressor: "copy-file", args: ["--copy-file", "1"] },
];

/** bogo-ops per second (real time) of `stressor` in stress-ng's --yaml report. */
export function parseStressNg(yamlText: string, stressor: string): number {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new KilnError(`stress-ng's report is not YAML: ${(err as Error).message}`);
  }
  const metrics = (doc as { metrics?: unknown } | null)?.metrics;
  const row = Array.isArray(metrics) ? (metrics as Record<string, unknown>[]).find((m) => m.stressor === stressor) : undefined;
  const v = row?.["bogo-ops-per-second-real-time"];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new KilnError(`stress-ng's report has no bogo-ops-per-second-real-time for ${stressor}`);
  return v;
}

/** Received bits per second of an iperf3 -J run (with -R the client receives). */
export function parseIperf3(jsonText: string): number {
  let doc: { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
  try {
    doc = JSON.parse(jsonText) as typeof doc;
  } catch {
    throw new KilnError(`iperf3 printed no JSON report: ${jsonText.trim().split("\n").slice(-2).join(" | ") || "(nothing)"}`);
  }
  if (doc.error) throw new KilnError(`iperf3: ${doc.error}`);
  const v = doc.end?.sum_received?.bits_per_second;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new KilnError("iperf3's report has no end.sum_received.bits_per_second");
  return v;
}

export interface BenchRow {
  id: string;
  what: string;
  unit: string;
  host?: number;
  container?: number;
  /** container / host, as seed 004 wrote it (98.9 %) */
  ratio?: number;
  /** why a figure is missing */
  note?: string;
}

export function ratio(host: number | undefined, container: number | undefined): number | undefined {
  return host !== undefined && container !== undefined && host > 0 ? container / host : undefined;
}

/**
 * The seed's layout: one row per test, host, container, container/host; the
 * CPU suite's geometric mean of the ratios as its "index" (UnixBench's index
 * is a geometric mean too).
 */
export function cpuIndex(rows: readonly BenchRow[]): number | undefined {
  const rs = rows.map((r) => r.ratio).filter((r): r is number => r !== undefined && r > 0);
  if (rs.length === 0 || rs.length !== rows.length) return undefined;
  return Math.exp(rs.reduce((s, r) => s + Math.log(r), 0) / rs.length);
}

const num = (v: number | undefined, unit: string): string => {
  if (v === undefined) return "-";
  if (unit === "Mbit/s") return (v / 1e6).toFixed(1);
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
};
const pct = (r: number | undefined) => (r === undefined ? "-" : `${(r * 100).toFixed(1)} %`);

export function formatTable(title: string, rows: readonly BenchRow[], footer?: string): string {
  const head = ["", "host", "container", "container/host"];
  const body = rows.map((r) => [`${r.what} (${r.unit})`, num(r.host, r.unit), num(r.container, r.unit), r.note && r.ratio === undefined ? r.note : pct(r.ratio)]);
  const all = [head, ...body];
  const width = head.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(width[i] ?? 0) : c.padStart(width[i] ?? 0))).join("  ").trimEnd();
  return [title, ...all.map(line), ...(footer ? [footer] : [])].join("\n");
}
