/**
 * Mirrors come from the host's own apt configuration (one-line .list files and
 * deb822 .sources files) or from --mirror: kiln never carries a mirror of its own.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../errors.js";

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
  /** Signed-By / signed-by= as written (a keyring path or an inline key). */
  signedBy?: string;
  /** Architectures restriction, when the entry has one. */
  architectures?: string[];
  /** file:line the entry came from, for messages. */
  origin: string;
}

/** A one-line `deb [opts] uri suite comp...` file. Comments, deb-src and blank lines are skipped. */
export function parseOneLine(text: string, file = "sources.list"): AptSource[] {
  const out: AptSource[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) return;
    let rest = line;
    const type = rest.split(/\s+/, 1)[0];
    if (type !== "deb") return;
    rest = rest.slice(type.length).trim();
    const opts: Record<string, string> = {};
    if (rest.startsWith("[")) {
      const end = rest.indexOf("]");
      if (end < 0) throw new InputError(`${file}:${i + 1}: unterminated [options] in "${raw.trim()}"`);
      for (const kv of rest.slice(1, end).trim().split(/\s+/).filter(Boolean)) {
        const eq = kv.indexOf("=");
        if (eq > 0) opts[kv.slice(0, eq).toLowerCase()] = kv.slice(eq + 1);
      }
      rest = rest.slice(end + 1).trim();
    }
    const [uri, suite, ...components] = rest.split(/\s+/);
    if (!uri || !suite) throw new InputError(`${file}:${i + 1}: expected "deb URI SUITE [COMPONENT...]", got "${raw.trim()}"`);
    out.push({
      uri,
      suites: [suite],
      components,
      ...(opts["signed-by"] ? { signedBy: opts["signed-by"] } : {}),
      ...(opts.arch ? { architectures: opts.arch.split(",") } : {}),
      origin: `${file}:${i + 1}`,
    });
  });
  return out;
}

/** A deb822 .sources file: stanzas of Field: value, continuation lines start with a space. */
export function parseDeb822(text: string, file = "debian.sources"): AptSource[] {
  const out: AptSource[] = [];
  const stanzas: { fields: Record<string, string>; line: number }[] = [];
  let cur: { fields: Record<string, string>; line: number } | undefined;
  let last: string | undefined;
  text.split("\n").forEach((raw, i) => {
    if (raw.startsWith("#")) return;
    if (raw.trim() === "") {
      cur = undefined;
      last = undefined;
      return;
    }
    if (/^[ \t]/.test(raw)) {
      if (cur && last) cur.fields[last] = `${cur.fields[last] ?? ""}\n${raw.trim() === "." ? "" : raw.trim()}`;
      return;
    }
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
    if (!m) throw new InputError(`${file}:${i + 1}: not a deb822 field: "${raw}"`);
    if (!cur) {
      cur = { fields: {}, line: i + 1 };
      stanzas.push(cur);
    }
    last = (m[1] as string).toLowerCase();
    cur.fields[last] = (m[2] as string).trim();
  });
  for (const { fields, line } of stanzas) {
    const words = (k: string) => (fields[k] ?? "").split(/\s+/).filter(Boolean);
    if (!words("types").includes("deb")) continue;
    if ((fields.enabled ?? "yes").toLowerCase() === "no") continue;
    const suites = words("suites");
    const uris = words("uris");
    if (uris.length === 0 || suites.length === 0) throw new InputError(`${file}:${line}: a deb stanza needs URIs: and Suites:`);
    const signed = fields["signed-by"]?.trim();
    const arches = words("architectures");
    for (const uri of uris) {
      out.push({
        uri,
        suites,
        components: words("components"),
        ...(signed ? { signedBy: signed } : {}),
        ...(arches.length ? { architectures: arches } : {}),
        origin: `${file}:${line}`,
      });
    }
  }
  return out;
}

/** The host's sources: sources.list, then sources.list.d/*.list and *.sources in name order. */
export async function hostSources(aptDir = "/etc/apt"): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const main = join(aptDir, "sources.list");
  if (existsSync(main)) out.push(...parseOneLine(await readFile(main, "utf8"), main));
  const dDir = join(aptDir, "sources.list.d");
  const names = (await readdir(dDir).catch(() => [] as string[])).sort();
  for (const name of names) {
    const file = join(dDir, name);
    // apt itself ignores other names (.disabled, .save, .dpkg-old): so does kiln.
    if (name.endsWith(".list")) out.push(...parseOneLine(await readFile(file, "utf8"), file));
    else if (name.endsWith(".sources")) out.push(...parseDeb822(await readFile(file, "utf8"), file));
  }
  return out;
}

/** One suite from one mirror, as mmdebstrap takes it. */
export interface SuiteSource {
  suite: string;
  uri: string;
  components: string[];
  signedBy?: string;
  kind: "base" | "update";
}

/** bookworm is the base; bookworm-updates, bookworm-security, bookworm-backports... are add-ons. */
export function suiteKind(suite: string, release: string): "base" | "update" | "other" {
  if (suite === release) return "base";
  if (suite === `${release}-updates` || suite === `${release}-security` || suite === `${release}/updates`) return "update";
  return "other";
}

/**
 * The suites of `release` the host knows, for `arch`. Entries for other
 * releases, other distributions' suites and arch-restricted entries that
 * exclude `arch` are left out; the first mirror of each suite wins.
 */
export function selectSuites(sources: readonly AptSource[], release: string, arch: string): SuiteSource[] {
  const seen = new Set<string>();
  const out: SuiteSource[] = [];
  for (const s of sources) {
    if (s.architectures && !s.architectures.includes(arch)) continue;
    for (const suite of s.suites) {
      const kind = suiteKind(suite, release);
      if (kind === "other" || seen.has(suite)) continue;
      seen.add(suite);
      out.push({ suite, uri: s.uri, components: s.components.length ? s.components : ["main"], ...(s.signedBy ? { signedBy: s.signedBy } : {}), kind });
    }
  }
  return out;
}

/**
 * --mirror URI (or "URI suite..."): the base suite and the usual update suites
 * from that mirror. A security archive usually lives elsewhere, so a second
 * --mirror may name it: `--mirror "URI bookworm-security"`.
 */
export function mirrorOption(values: readonly string[], release: string, components: readonly string[]): SuiteSource[] {
  const out: SuiteSource[] = [];
  for (const v of values) {
    const [uri, ...suites] = v.trim().split(/\s+/);
    if (!uri || !/^(https?|file|copy|mirror\+\w+|tor\+\w+):/.test(uri)) {
      throw new InputError(`--mirror ${v}: not a mirror URI`, "give a URI such as http://HOST/debian, optionally followed by suites");
    }
    for (const suite of suites.length ? suites : [release, `${release}-updates`]) {
      const kind = suiteKind(suite, release);
      if (kind === "other") throw new InputError(`--mirror ${v}: suite ${suite} is not ${release} or one of its update suites`);
      if (!out.some((o) => o.suite === suite)) out.push({ suite, uri, components: [...components], kind });
    }
  }
  return out;
}

/** mmdebstrap's one-line form of a suite source. */
export function sourceLine(s: SuiteSource): string {
  const opt = s.signedBy && !s.signedBy.includes("\n") ? ` [signed-by=${s.signedBy}]` : "";
  return `deb${opt} ${s.uri} ${s.suite} ${s.components.join(" ")}`;
}
