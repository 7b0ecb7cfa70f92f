/**
 * The audit: every requested option, its final value, and for each one that did
 * not land the reason, read from the tree's own Kconfig files. Pure: it takes the
 * requests, the tree and the final .config, and returns the report.
 */
import { closest, distance } from "fastest-levenshtein";
import { configValue, formatAssignment, type ParsedConfig } from "./dotconfig.js";
import { evalExpr, type Expr, formatExpr, parseExpr, satisfyingAssignments, type Tri } from "./expr.js";
import type { Request } from "./fragments.js";
import { type Resolution, resolveSymbol, type RenameEntry } from "./renames.js";
import type { KconfigTree, SymbolDefinition } from "./tree.js";

export type AuditStatus =
  /** In the final .config as requested (possibly under a newer or older name). */
  | "ok"
  /** The option no longer exists and the kernel does its job anyway. */
  | "builtin"
  /** A later request for the same option replaced this one. */
  | "overridden"
  /** The option exists but did not land. */
  | "missing"
  /** The option is gone from this kernel and its job is not done. */
  | "gone"
  /** No kernel symbol of that name, and no known rename. */
  | "unknown";

export interface AuditEntry {
  /** The name as written in the fragment. */
  symbol: string;
  /** The name in this kernel, when it differs (rename). */
  resolved?: string;
  requested: string;
  /** Value in the final .config; null when the kernel has no such symbol. */
  final: string | null;
  fragment: string;
  file: string;
  line: number;
  need: "required" | "optional";
  status: AuditStatus;
  /** True when the request is met (ok or builtin). */
  landed: boolean;
  reasons: string[];
  /** .config lines that would make it land. */
  fix: string[];
  /** Closest known symbol for an unknown name. */
  didYouMean?: string;
}

export interface AuditReport {
  ok: boolean;
  kernelVersion: string;
  counts: Record<AuditStatus, number> & { failed: number; warnings: number };
  entries: AuditEntry[];
}

export interface PlannedRequest {
  request: Request;
  resolution: Resolution;
  /** The later request that replaces this one, if any. */
  overriddenBy?: Request;
}

/** Resolve names and find overrides before merging: what the merge will be fed. */
export function planRequests(requests: readonly Request[], renames: readonly RenameEntry[], tree: KconfigTree): PlannedRequest[] {
  const defined = (n: string) => tree.symbols.has(n);
  const planned = requests.map((request) => ({ request, resolution: resolveSymbol(request.name, renames, defined) }) as PlannedRequest);
  const last = new Map<string, PlannedRequest>();
  for (const p of planned) last.set(targetName(p), p);
  for (const p of planned) {
    const winner = last.get(targetName(p));
    if (winner && winner !== p && winner.request.value !== p.request.value) p.overriddenBy = winner.request;
  }
  return planned;
}

function targetName(p: PlannedRequest): string {
  const r = p.resolution;
  return r.kind === "defined" || r.kind === "renamed" ? r.name : p.request.name;
}

/** The fragment lines that go to merge_config: resolved names, vanished options left as comments. */
export function resolvedFragmentText(planned: readonly PlannedRequest[], fragment: string, kernelVersion: string): string {
  const out = [`# ${fragment}, resolved by kiln for Linux ${kernelVersion}`];
  for (const { request, resolution } of planned.filter((p) => p.request.fragment === fragment)) {
    if (resolution.kind === "gone") {
      out.push(`# CONFIG_${request.name}: gone since ${resolution.entry.gone ?? "?"} (${resolution.entry.note ?? "no longer an option"})`);
      continue;
    }
    const name = resolution.kind === "renamed" || resolution.kind === "defined" ? resolution.name : request.name;
    if (resolution.kind === "renamed") out.push(`# CONFIG_${request.name} is called CONFIG_${name} in this kernel`);
    out.push(formatAssignment(name, request.value, request.quoted));
  }
  return `${out.join("\n")}\n`;
}

const TRI: Record<string, Tri> = { n: 0, m: 1, y: 2 };

function tri(v: string): Tri | undefined {
  return TRI[v];
}

/** Whether the final value meets the request: m is met by y (more than asked), bool turns m into y. */
export function satisfied(requested: string, final: string, type: SymbolDefinition["type"]): boolean {
  const want = tri(requested);
  const got = tri(final);
  if (want !== undefined && got !== undefined) {
    if (want === 0) return got === 0;
    if (want === 1) return got >= 1 && (got === 1 || type === "bool" || type === "tristate");
    return got === 2;
  }
  if (type === "int" || type === "hex") return Number(requested) === Number(final);
  return requested === final;
}

export function audit(planned: readonly PlannedRequest[], tree: KconfigTree, final: ParsedConfig, kernelVersion: string): AuditReport {
  const value = (n: string): string | undefined => final.values.get(n)?.value;
  const entries = planned.map((p) => auditOne(p, tree, final, value, kernelVersion));
  const counts = { ok: 0, builtin: 0, overridden: 0, missing: 0, gone: 0, unknown: 0, failed: 0, warnings: 0 };
  for (const e of entries) {
    counts[e.status]++;
    if (!e.landed && e.status !== "overridden") {
      if (e.need === "required") counts.failed++;
      else counts.warnings++;
    }
  }
  return { ok: counts.failed === 0, kernelVersion, counts, entries };
}

function auditOne(
  p: PlannedRequest,
  tree: KconfigTree,
  final: ParsedConfig,
  value: (n: string) => string | undefined,
  kernelVersion: string,
): AuditEntry {
  const { request, resolution } = p;
  const base = {
    symbol: request.name,
    requested: request.value,
    fragment: request.fragment,
    file: request.file,
    line: request.line,
    need: request.optional ? ("optional" as const) : ("required" as const),
    reasons: [] as string[],
    fix: [] as string[],
  };

  if (resolution.kind === "unknown") {
    const didYouMean = nearestSymbol(request.name, tree);
    return {
      ...base,
      final: null,
      status: "unknown",
      landed: false,
      reasons: [`CONFIG_${request.name} does not exist in Linux ${kernelVersion}${didYouMean ? `: did you mean CONFIG_${didYouMean}?` : ""}`],
      ...(didYouMean ? { didYouMean, fix: [formatAssignment(didYouMean, request.value, request.quoted)] } : {}),
    };
  }

  if (resolution.kind === "gone") {
    const { entry } = resolution;
    const since = entry.gone ? ` since Linux ${entry.gone}` : "";
    const what = `CONFIG_${request.name} is gone${since}${entry.note ? `: ${entry.note}` : ""}`;
    if (!entry.builtInWhen) return { ...base, final: null, status: "builtin", landed: true, reasons: [what] };
    const cond = parseExpr(entry.builtInWhen);
    const met = evalExpr(cond, value) > 0;
    if (met) return { ...base, final: null, status: "builtin", landed: true, reasons: [`${what}; holds: ${formatExpr(cond, value)}`] };
    return {
      ...base,
      final: null,
      status: "gone",
      landed: false,
      reasons: [`${what}; needs ${formatExpr(cond, value)}`],
      fix: satisfyingAssignments(cond, value, 2).map((a) => formatAssignment(a.name, a.value)),
    };
  }

  const name = resolution.name;
  const renamed = resolution.kind === "renamed" ? { resolved: name } : {};
  const renameNote = resolution.kind === "renamed" ? [`called CONFIG_${name} in Linux ${kernelVersion}${resolution.note ? ` (${resolution.note})` : ""}`] : [];
  const finalValue = configValue(final, name);
  const defs = tree.symbols.get(name) ?? [];
  const type = defs.find((d) => d.type)?.type;

  if (p.overriddenBy) {
    const by = p.overriddenBy;
    return {
      ...base,
      ...renamed,
      final: finalValue,
      status: "overridden",
      landed: false,
      reasons: [...renameNote, `overridden by ${by.fragment}:${by.line} (${formatAssignment(by.name, by.value, by.quoted)})`],
    };
  }

  if (satisfied(request.value, finalValue, type)) {
    const notes = [...renameNote];
    if (request.value === "m" && finalValue === "y") {
      notes.push(type === "bool" ? "a bool in this kernel: m lands as y" : "built in (y): something selects it");
    }
    return { ...base, ...renamed, final: finalValue, status: "ok", landed: true, reasons: notes };
  }

  const why = explain(name, request.value, finalValue, tree, value, p);
  return { ...base, ...renamed, final: finalValue, status: "missing", landed: false, reasons: [...renameNote, ...why.reasons], fix: why.fix };
}

export function nearestSymbol(name: string, tree: KconfigTree): string | undefined {
  const names = [...tree.symbols.keys()];
  if (names.length === 0) return undefined;
  const best = closest(name, names);
  return distance(name, best) <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

function anyOf(exprs: (Expr | undefined)[]): Expr | undefined {
  if (exprs.some((e) => e === undefined)) return undefined;
  return (exprs as Expr[]).reduce<Expr | undefined>((acc, e) => (acc ? { kind: "or", l: acc, r: e } : e), undefined);
}

function show(name: string, value: (n: string) => string | undefined): string {
  return `${name} [=${value(name) ?? "n"}]`;
}

interface Explanation {
  reasons: string[];
  fix: string[];
}

/** Why did `name` not reach `want`? Read the blocking terms out of its definitions. */
export function explain(
  name: string,
  want: string,
  got: string,
  tree: KconfigTree,
  value: (n: string) => string | undefined,
  p?: PlannedRequest,
  depth = 0,
): Explanation {
  const defs = tree.symbols.get(name) ?? [];
  const reasons: string[] = [];
  const fix = new Set<string>();
  const wantTri = tri(want) ?? 2;
  const indent = "  ".repeat(depth);

  if (wantTri > 0) {
    const deps = anyOf(defs.map((d) => d.dependsOn));
    if (deps && evalExpr(deps, value) < wantTri) {
      const limit = evalExpr(deps, value);
      reasons.push(`${indent}${name}: ${limit === 1 ? "limited to m: " : ""}depends on ${formatExpr(deps, value)}`);
      for (const a of satisfyingAssignments(deps, value, wantTri)) {
        fix.add(formatAssignment(a.name, a.value));
        if (depth < 3 && tri(a.value) !== 0) {
          const deeper = explain(a.name, a.value, value(a.name) ?? "n", tree, value, undefined, depth + 1);
          deeper.reasons.forEach((r) => reasons.push(r));
          deeper.fix.forEach((f) => fix.add(f));
        }
      }
    }
    const prompted = defs.filter((d) => d.hasPrompt);
    if (defs.length > 0 && prompted.length === 0) {
      const selectors = tree.selectedBy.get(name) ?? [];
      reasons.push(
        `${indent}${name} has no prompt, so a fragment cannot set it: ${
          selectors.length ? `it is only selected by ${selectors.slice(0, 6).map((s) => show(s.by, value)).join(", ")}` : "nothing selects it"
        }`,
      );
      const first = selectors[0];
      if (first) fix.add(formatAssignment(first.by, "y"));
    } else if (prompted.length > 0 && prompted.every((d) => d.promptIf && evalExpr(d.promptIf, value) === 0)) {
      const cond = prompted[0]?.promptIf as Expr;
      reasons.push(`${indent}${name}: its prompt is only visible if ${formatExpr(cond, value)}`);
      satisfyingAssignments(cond, value, 2).forEach((a) => fix.add(formatAssignment(a.name, a.value)));
    }
    const choice = defs.find((d) => d.choice)?.choice;
    if (choice && got === "n") {
      const chosen = [...tree.symbols.values()]
        .flat()
        .filter((d) => d.choice?.id === choice.id && d.name !== name && value(d.name) === "y")
        .map((d) => d.name);
      if (chosen.length > 0) {
        reasons.push(`${indent}${name} is one option of the choice "${choice.prompt ?? choice.id}", and ${chosen.map((c) => show(c, value)).join(", ")} is chosen`);
        chosen.forEach((c) => fix.add(formatAssignment(c, "n")));
      }
    }
  } else {
    const forcing = (tree.selectedBy.get(name) ?? []).filter((s) => (tri(value(s.by) ?? "n") ?? 0) > 0 && (!s.cond || evalExpr(s.cond, value) > 0));
    if (forcing.length > 0) {
      reasons.push(`${indent}${name} is forced on by select from ${forcing.map((s) => `${show(s.by, value)} (${s.file}:${s.line})`).join(", ")}`);
      forcing.forEach((s) => fix.add(formatAssignment(s.by, "n")));
    }
  }
  if (reasons.length === 0 && depth === 0) {
    const overrides = p ? ` (requested in ${p.request.fragment}:${p.request.line})` : "";
    reasons.push(`${name} = ${got} after olddefconfig${overrides}; no blocking dependency found in its Kconfig entries`);
  }
  return { reasons, fix: [...fix] };
}
