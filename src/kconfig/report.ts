/** Human-readable audit report: a table of every option, then the reasons for each that did not land. */
import type { AuditEntry, AuditReport } from "./audit.js";

const LABEL: Record<AuditEntry["status"], string> = {
  ok: "ok",
  builtin: "built in",
  overridden: "overridden",
  missing: "MISSING",
  gone: "GONE",
  unknown: "UNKNOWN",
};

function shown(e: AuditEntry): string {
  return e.resolved ? `${e.symbol} -> ${e.resolved}` : e.symbol;
}

export function formatAudit(report: AuditReport): string {
  const rows = report.entries.map((e) => [
    shown(e),
    e.requested,
    e.final ?? "-",
    e.landed || e.status === "overridden" ? LABEL[e.status] : e.need === "optional" ? `${LABEL[e.status]} (optional)` : LABEL[e.status],
    `${e.fragment}:${e.line}`,
  ]);
  const header = ["OPTION", "WANT", "FINAL", "STATUS", "FROM"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  const out = [line(header), ...rows.map(line)];

  const explained = report.entries.filter((e) => e.reasons.length > 0);
  if (explained.length > 0) {
    out.push("", "Notes:");
    for (const e of explained) {
      out.push(`  CONFIG_${shown(e)} (${LABEL[e.status]}, ${e.fragment}:${e.line}):`);
      for (const r of e.reasons) out.push(`    ${r}`);
      if (e.fix.length > 0 && !e.landed) out.push(`    would land with: ${e.fix.join("  ")}`);
    }
  }
  const c = report.counts;
  out.push(
    "",
    `Linux ${report.kernelVersion}: ${report.entries.length} options, ${c.ok} ok, ${c.builtin} built in, ${c.overridden} overridden, ` +
      `${c.failed} failed, ${c.warnings} warnings`,
  );
  return out.join("\n");
}
