/**
 * What to do when apt cannot download a suite's index: name the suite and the
 * reason, retry once, then go on without an update suite (security, -updates)
 * with a warning, or fail when it is the base suite or --strict-suites is given.
 */
import type { SuiteSource } from "./apt-sources.js";

export interface SuiteFailure {
  suite: string;
  url: string;
  reason: string;
}

/**
 * apt's "E: Failed to fetch URL  REASON" / "Err:N URL ..." lines, mapped to the
 * suite the URL belongs to (…/dists/<suite>/…).
 */
export function parseFetchFailures(log: string, suites: readonly SuiteSource[]): SuiteFailure[] {
  const out: SuiteFailure[] = [];
  const lines = log.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    let url: string | undefined;
    let reason = "";
    const fetch = /^[EW]: Failed to fetch (\S+)\s+(.*)$/.exec(line);
    if (fetch) {
      url = fetch[1];
      reason = (fetch[2] ?? "").trim();
    } else {
      const err = /^Err:\d+ (\S+) (\S+)(?: (.*))?$/.exec(line);
      if (err) {
        url = err[1];
        const next = lines[i + 1];
        reason = next && /^\s/.test(next) ? next.trim() : (err[3] ?? "").trim();
      }
    }
    if (!url) continue;
    const suite = suiteOfUrl(url, line, suites);
    if (!suite) continue;
    reason = reason.replace(/\s*\[IP: [^\]]*\]/, "").trim() || "download failed";
    const known = out.find((f) => f.suite === suite);
    if (known) {
      // The E: line comes last and carries the full reason: prefer it.
      if (fetch) Object.assign(known, { url, reason });
      continue;
    }
    out.push({ suite, url, reason });
  }
  return out;
}

function suiteOfUrl(url: string, line: string, suites: readonly SuiteSource[]): string | undefined {
  const m = /\/dists\/([^/]+(?:\/updates)?)\//.exec(url);
  if (m) {
    const name = m[1] as string;
    const exact = suites.find((s) => s.suite === name) ?? suites.find((s) => name.startsWith(`${s.suite}/`));
    if (exact) return exact.suite;
  }
  // "Err:6 http://host/debian-security bookworm-security/main armhf Packages"
  const words = line.split(/\s+/);
  return suites.find((s) => words.some((w) => w === s.suite || w.startsWith(`${s.suite}/`)))?.suite;
}

export type SuiteDecision =
  | { action: "retry"; failures: SuiteFailure[] }
  | { action: "drop"; drop: SuiteFailure[]; warning: string }
  | { action: "fail"; message: string; hint: string };

/**
 * attempt counts from 1. The first failure of a suite is retried as is; the
 * second drops update suites, unless strict or the base suite is among them.
 */
export function decide(failures: readonly SuiteFailure[], suites: readonly SuiteSource[], attempt: number, strict: boolean): SuiteDecision {
  const describe = (f: SuiteFailure) => `${f.suite} (${f.reason}; ${f.url})`;
  if (failures.length === 0) {
    return { action: "fail", message: "mmdebstrap failed, and not while downloading a suite's index", hint: "" };
  }
  if (attempt < 2) return { action: "retry", failures: [...failures] };
  const kindOf = (f: SuiteFailure) => suites.find((s) => s.suite === f.suite)?.kind ?? "base";
  const base = failures.filter((f) => kindOf(f) === "base");
  if (base.length > 0) {
    return {
      action: "fail",
      message: `the base suite could not be downloaded, twice: ${base.map(describe).join("; ")}`,
      hint: "the root filesystem needs the base suite: try again later or give another mirror with --mirror",
    };
  }
  if (strict) {
    return {
      action: "fail",
      message: `suite ${failures.map(describe).join("; ")} could not be downloaded, twice, and --strict-suites is given`,
      hint: "try again later, give another mirror with --mirror, or leave out --strict-suites to build without it (with a warning)",
    };
  }
  const names = failures.map((f) => f.suite).join(", ");
  return {
    action: "drop",
    drop: [...failures],
    warning:
      `WARNING: built WITHOUT ${names}: ${failures.map(describe).join("; ")}. ` +
      `Packages come from the remaining suites only and may miss security and stability fixes; rebuild when the mirror is consistent (--force rootfs).`,
  };
}
