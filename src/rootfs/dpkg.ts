/** Reading the staged root's dpkg database and copyright files (no dpkg-query through qemu). */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export interface InstalledPackage {
  name: string;
  version: string;
  arch: string;
  source: string;
  installedSizeKiB: number;
  depends: string[];
  /** Essential: yes or Priority: required/important: the variant installs it anyway. */
  base: boolean;
  homepage?: string;
}

/** Stanzas of a Debian control-format file, field names lowercased. */
export function parseControl(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let cur: Record<string, string> = {};
  let last: string | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (last) cur[last] = `${cur[last] ?? ""}\n${line.trim()}`;
      continue;
    }
    const i = line.indexOf(":");
    if (i <= 0) continue;
    last = line.slice(0, i).toLowerCase();
    cur[last] = line.slice(i + 1).trim();
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

export function parseStatus(text: string): InstalledPackage[] {
  return parseControl(text)
    .filter((s) => /\binstalled$/.test(s.status ?? "") && s.package)
    .map((s) => ({
      name: s.package as string,
      version: s.version ?? "",
      arch: s.architecture ?? "",
      source: (s.source ?? s.package ?? "").split(" ")[0] as string,
      installedSizeKiB: Number(s["installed-size"] ?? 0) || 0,
      depends: (s["pre-depends"] ? `${s["pre-depends"]}, ` : "").concat(s.depends ?? "")
        .split(",")
        .map((d) => d.trim().split(/[\s(:|]/)[0] ?? "")
        .filter(Boolean),
      base: s.essential === "yes" || s.priority === "required" || s.priority === "important",
      ...(s.homepage ? { homepage: s.homepage } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function installedPackages(root: string): Promise<InstalledPackage[]> {
  const f = join(root, "var", "lib", "dpkg", "status");
  return existsSync(f) ? parseStatus(await readFile(f, "utf8")) : [];
}

/**
 * Licences named by a machine-readable debian/copyright (DEP-5): the first
 * line of every License field of the Files stanzas. Empty when the file is
 * free-form: kiln does not guess.
 */
export function copyrightLicenses(text: string): string[] {
  if (!/^Format:\s*\S*copyright-format/m.test(text)) return [];
  const out = new Set<string>();
  for (const st of parseControl(text)) {
    if (!st.files || !st.license) continue;
    const first = (st.license.split("\n")[0] ?? "").trim();
    if (first) out.add(first);
  }
  return [...out];
}

/** Package names that pulled `target` in, following Depends / Pre-Depends backwards. */
export function whoPulls(pkgs: readonly InstalledPackage[], target: string): string[] {
  return pkgs.filter((p) => p.depends.includes(target)).map((p) => p.name);
}

/**
 * The packages that leave with `cut`: those, and every package that only they
 * (transitively) depend on, unless the variant installs it anyway.
 */
export function cutClosure(pkgs: readonly InstalledPackage[], cut: readonly string[]): string[] {
  const out = new Set(cut.filter((c) => pkgs.some((p) => p.name === c)));
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of pkgs) {
      if (out.has(p.name) || p.base) continue;
      const users = pkgs.filter((q) => q.depends.includes(p.name));
      if (users.length > 0 && users.every((u) => out.has(u.name))) {
        out.add(p.name);
        changed = true;
      }
    }
  }
  return [...out].sort();
}
