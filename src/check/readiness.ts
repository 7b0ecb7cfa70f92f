/**
 * Container readiness of a kernel .config, decided from the config alone.
 *
 * The table covers every question LXC 5.0.2's lxc-checkconfig answers from a
 * config file (same labels, same symbols, same kernel-version rules), plus the
 * controllers and network devices the seed's OpenBlocks AX3 procedure relies
 * on. What lxc-checkconfig answers from the running host instead (cgroup mount
 * points, newuidmap, /proc/self/ns/cgroup) has no place here: a .config for
 * another board says nothing about the machine kiln runs on.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { ParsedConfig } from "../kconfig/dotconfig.js";
import { configValue } from "../kconfig/dotconfig.js";
import { CheckFailedError, InputError } from "../errors.js";
import { dataDir } from "../paths.js";
import { compareVersions } from "../versions.js";


/** Where kiln and the host's lxc-checkconfig disagree on one config. */
export interface CrossCheck {
  tool: "lxc-checkconfig";
  /** Labels both answered the same way. */
  agreed: number;
  disagreements: { label: string; kiln: string; lxc: string }[];
  /** Labels lxc-checkconfig answered that kiln has no check for: a gap in kiln's table. */
  lxcOnly: string[];
}

export type Need = "required" | "optional";

export type Section = "Namespaces" | "Control groups" | "Misc" | "Checkpoint/Restore";

export const SECTIONS: readonly Section[] = ["Namespaces", "Control groups", "Misc", "Checkpoint/Restore"];

export interface ReadinessCheck {
  id: string;
  /** lxc-checkconfig's wording, so reports and the cross check line up. */
  label: string;
  section: Section;
  /** kiln's verdict: a failing required check makes `kiln check` fail. */
  need: Need;
  /**
   * Acceptable symbol sets: the check passes when every symbol of any one set
   * is y or m. An empty set is a feature the kernel always has.
   */
  anyOf: string[][];
  /** What breaks without it, in one line. */
  why: string;
  /**
   * lxc-checkconfig's own "mandatory" flag for the same question; absent when
   * only kiln asks. Kept apart from `need` because kiln also requires what the
   * seed's containers use, which lxc-checkconfig only calls "missing".
   */
  lxcNeed?: Need;
  /** Kernel versions this variant of the check applies to: since <= v < before. */
  since?: string;
  before?: string;
  /** Shown next to the verdict, for checks no symbol decides. */
  note?: string;
}

export interface CheckResult {
  id: string;
  label: string;
  section: Section;
  need: Need;
  lxcNeed?: Need;
  ok: boolean;
  /** Assignments that made it pass (or the part of the closest set that is there), e.g. "CONFIG_IPC_NS=y". */
  found: string[];
  /** Symbol names (no CONFIG_ prefix) that would make it pass; empty when it passes. */
  missing: string[];
  why: string;
  note?: string;
}

export interface ReadinessReport {
  /** True when every required check passes. */
  ok: boolean;
  /** The version the version-dependent checks used; undefined means "assumed current", as lxc-checkconfig does. */
  kernelVersion?: string;
  results: CheckResult[];
  crossCheck?: CrossCheck;
}

/** kconfig/readiness.yaml, the table as data: checked against this schema when kiln reads it. */
const ReadinessCheckSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/),
    label: z.string().min(1),
    section: z.enum(["Namespaces", "Control groups", "Misc", "Checkpoint/Restore"]),
    need: z.enum(["required", "optional"]),
    lxcNeed: z.enum(["required", "optional"]).optional(),
    anyOf: z.array(z.array(z.string().regex(/^(?!CONFIG_)[A-Z0-9_]+$/, "a Kconfig symbol without CONFIG_"))),
    why: z.string().min(1),
    since: z.string().regex(/^\d+(\.\d+)*$/).optional(),
    before: z.string().regex(/^\d+(\.\d+)*$/).optional(),
    note: z.string().optional(),
  })
  .strict();

export function parseReadinessTable(text: string, file: string): ReadinessCheck[] {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = z.array(ReadinessCheckSchema).min(1).safeParse(raw);
  if (!parsed.success) {
    throw new InputError(`${file}: ${parsed.error.issues.map((i) => `entry ${i.path.join(".")}: ${i.message}`).join("; ")}`, "each entry needs id, label, section, need, anyOf and why (see the file's header)");
  }
  return parsed.data;
}

export function readinessFile(): string {
  return join(dataDir("kconfig"), "readiness.yaml");
}

/**
 * The questions every readiness check asks: kconfig/readiness.yaml, read once.
 * The seed's containers (004: veth on br0, macvlan, device allow-lists,
 * memory/cpuset limits read back through LXCFS in 000) need more than the three
 * namespaces lxc-checkconfig calls mandatory; the file marks those "seed".
 */
export const READINESS_CHECKS: readonly ReadinessCheck[] = parseReadinessTable(readFileSync(readinessFile(), "utf8"), readinessFile());

/** "6.1.192" -> [6, 1, 192]; anything after the numbers ("-rc3", "+") is ignored. */
export function parseKernelVersion(version: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? "0")];
}

export function compareKernelVersions(a: string, b: string): number {
  const pa = parseKernelVersion(a);
  const pb = parseKernelVersion(b);
  if (!pa || !pb) throw new Error(`not a kernel version: ${pa ? b : a}`);
  return compareVersions(pa.join("."), pb.join("."));
}

/**
 * The version in a .config's header ("# Linux/arm 6.1.192 Kernel Configuration"),
 * the same line lxc-checkconfig reads; undefined when the header is missing.
 */
export function kernelVersionFromConfigText(text: string): string | undefined {
  for (const line of text.split("\n", 20)) {
    const m = /^#\s*Linux.*?\s(\d+\.\d+(?:\.\d+)?\S*)\s+Kernel Configuration/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

function applies(check: ReadinessCheck, version: string | undefined): boolean {
  // No version: assume the newest kernel, as lxc-checkconfig does.
  if (version === undefined) return check.before === undefined;
  if (check.since !== undefined && compareKernelVersions(version, check.since) < 0) return false;
  if (check.before !== undefined && compareKernelVersions(version, check.before) >= 0) return false;
  return true;
}

/** The checks that apply to a kernel version: one per id. */
export function checksFor(kernelVersion: string | undefined): ReadinessCheck[] {
  return READINESS_CHECKS.filter((c) => applies(c, kernelVersion));
}

function isOn(cfg: ParsedConfig, name: string): boolean {
  const a = cfg.values.get(name);
  // A quoted "y" is a string, not a tristate: the kernel would not read it as enabled.
  return a !== undefined && !a.quoted && (a.value === "y" || a.value === "m");
}

function evaluate(check: ReadinessCheck, cfg: ParsedConfig): CheckResult {
  const describe = (name: string): string => `CONFIG_${name}=${configValue(cfg, name)}`;
  const base = {
    id: check.id,
    label: check.label,
    section: check.section,
    need: check.need,
    why: check.why,
    ...(check.lxcNeed ? { lxcNeed: check.lxcNeed } : {}),
    ...(check.note ? { note: check.note } : {}),
  };
  const satisfied = check.anyOf.find((set) => set.every((s) => isOn(cfg, s)));
  if (satisfied) return { ...base, ok: true, found: satisfied.map(describe), missing: [] };
  // Point at the set that needs the fewest changes; ties keep table order.
  let best: string[] | undefined;
  for (const set of check.anyOf) {
    if (!best || set.filter((s) => !isOn(cfg, s)).length < best.filter((s) => !isOn(cfg, s)).length) best = set;
  }
  const set = best ?? [];
  return {
    ...base,
    ok: false,
    found: set.filter((s) => isOn(cfg, s)).map(describe),
    missing: set.filter((s) => !isOn(cfg, s)),
  };
}

export function checkReadiness(cfg: ParsedConfig, opts: { kernelVersion?: string } = {}): ReadinessReport {
  const version = opts.kernelVersion;
  if (version !== undefined && !parseKernelVersion(version)) {
    throw new Error(`not a kernel version: ${version}`);
  }
  const results = checksFor(version).map((c) => evaluate(c, cfg));
  return {
    ok: results.every((r) => r.ok || r.need === "optional"),
    ...(version !== undefined ? { kernelVersion: version } : {}),
    results,
  };
}

/** The word lxc-checkconfig prints for a result: "enabled", "required" or "missing". */
export function lxcStatusOf(result: CheckResult): string {
  if (result.ok) return "enabled";
  return result.lxcNeed === "required" ? "required" : "missing";
}

const COLOURS = { green: "\u001b[1;32m", red: "\u001b[1;31m", yellow: "\u001b[1;33m", reset: "\u001b[0m" };
const LABEL_WIDTH = 40;

function verdict(r: CheckResult): { text: string; colour: keyof typeof COLOURS } {
  const symbols = r.missing.map((s) => `CONFIG_${s}`).join(", ");
  const detail = [symbols, r.note].filter((s) => s).join("; ");
  if (r.ok) return { text: r.note ? `enabled (${r.note})` : "enabled", colour: "green" };
  if (r.need === "required") return { text: `required (${detail})`, colour: "red" };
  return { text: detail ? `missing (optional: ${detail})` : "missing (optional)", colour: "yellow" };
}

/** Human-readable report, grouped by section; colours only when asked for. */
export function formatReadiness(report: ReadinessReport, opts: { color?: boolean } = {}): string {
  const paint = (s: string, c: keyof typeof COLOURS): string => (opts.color ? `${COLOURS[c]}${s}${COLOURS.reset}` : s);
  const lines: string[] = [];
  lines.push(
    report.kernelVersion
      ? `Container readiness (Linux ${report.kernelVersion})`
      : "Container readiness (kernel version unknown: assuming a current kernel)",
  );
  for (const section of SECTIONS) {
    const rs = report.results.filter((r) => r.section === section);
    if (rs.length === 0) continue;
    lines.push("", `--- ${section} ---`);
    for (const r of rs) {
      const v = verdict(r);
      lines.push(`  ${`${r.label} `.padEnd(LABEL_WIDTH, ".")} ${paint(v.text, v.colour)}`);
      if (!r.ok) lines.push(`      ${r.why}`);
    }
  }
  const cc = report.crossCheck;
  if (cc) {
    lines.push("");
    if (cc.disagreements.length === 0) {
      lines.push(`${cc.tool} agrees on all ${cc.agreed} checks it makes from the config`);
    } else {
      lines.push(`${cc.tool} agrees on ${cc.agreed} checks and disagrees on ${cc.disagreements.length}:`);
      for (const d of cc.disagreements) lines.push(`  ${d.label}: kiln says ${d.kiln}, ${cc.tool} says ${d.lxc}`);
    }
    if (cc.lxcOnly.length > 0) lines.push(`${cc.tool} also checks what kiln does not: ${cc.lxcOnly.join(", ")}`);
  }
  const failedRequired = report.results.filter((r) => !r.ok && r.need === "required");
  const failedOptional = report.results.filter((r) => !r.ok && r.need === "optional");
  const required = report.results.filter((r) => r.need === "required").length;
  lines.push("");
  if (failedRequired.length > 0) {
    lines.push(
      paint(
        `NOT READY: ${failedRequired.length} of ${required} required checks fail: ${failedRequired.map((r) => r.label).join(", ")}`,
        "red",
      ),
    );
  } else {
    lines.push(paint(`READY: all ${required} required checks pass`, "green"));
  }
  if (failedOptional.length > 0) {
    lines.push(`${failedOptional.length} optional missing: ${failedOptional.map((r) => r.label).join(", ")}`);
  }
  return lines.join("\n") + "\n";
}

/** The error `kiln check` fails with, or undefined when the config is ready. */
export function readinessError(report: ReadinessReport, source: string): CheckFailedError | undefined {
  const failed = report.results.filter((r) => !r.ok && r.need === "required");
  if (failed.length === 0) return undefined;
  const symbols = [...new Set(failed.flatMap((r) => r.missing))];
  return new CheckFailedError(
    `${source} is not container-ready: ${failed.map((r) => r.label).join(", ")}`,
    symbols.length > 0 ? `turn on in the kernel config: ${symbols.map((s) => `CONFIG_${s}=y`).join(" ")}` : undefined,
  );
}
