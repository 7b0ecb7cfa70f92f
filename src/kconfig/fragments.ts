/**
 * Fragments are kconfig snippets with handlebars conditions, so one file states
 * an intent for every kernel: `{{#if (kernelAtLeast "4.3")}}...{{/if}}`,
 * `{{#if (defined "CGROUP_PIDS")}}`. Rendering happens against the tree in use.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { handlebars } from "../handlebars.js";
import { suggest } from "../board/load.js";
import { InputError } from "../errors.js";
import { versionAtLeast } from "../versions.js";
import { dataDir } from "../paths.js";
import { type ConfigAssignment, parseConfig } from "./dotconfig.js";


export interface FragmentRef {
  /** Short name (lxc) or the file's base name for a path given by the user. */
  name: string;
  file: string;
}

export interface Request extends ConfigAssignment {
  fragment: string;
  file: string;
  optional: boolean;
}

export interface RenderContext {
  kernelVersion: string;
  arch: string;
  board: string;
  /** Whether a symbol exists in this kernel's Kconfig files. */
  defined: (symbol: string) => boolean;
}

export async function listFragments(root = dataDir("kconfig")): Promise<string[]> {
  const entries = await readdir(root).catch(() => [] as string[]);
  return entries.filter((f) => f.endsWith(".config")).map((f) => f.slice(0, -".config".length)).sort();
}

/** A fragment is a name from kconfig/ or a path to a file of the user's. */
export async function findFragment(spec: string, root = dataDir("kconfig")): Promise<FragmentRef> {
  const looksLikePath = spec.includes("/") || spec.endsWith(".config");
  if (looksLikePath) {
    const file = resolve(spec);
    if (!existsSync(file)) throw new InputError(`fragment file ${file} does not exist`);
    return { name: basename(file), file };
  }
  const file = join(root, `${spec}.config`);
  if (!existsSync(file)) {
    const known = await listFragments(root);
    const near = suggest(spec, known);
    throw new InputError(
      `unknown fragment "${spec}"${near ? ` (did you mean "${near}"?)` : ""}`,
      `fragments are ${root}/<name>.config: ${known.join(", ")}; or pass a path to your own file`,
    );
  }
  return { name: spec, file };
}

const OPTIONAL = /\s+#\s*optional\b.*$/;

export function renderFragment(template: string, file: string, ctx: RenderContext): string {
  const hb = handlebars().create();
  hb.registerHelper("kernelAtLeast", (min: unknown) => versionAtLeast(ctx.kernelVersion, String(min)));
  hb.registerHelper("defined", (sym: unknown) => ctx.defined(String(sym).replace(/^CONFIG_/, "")));
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  try {
    return hb.compile(template, { strict: true, noEscape: true })({
      kernel: { version: ctx.kernelVersion },
      arch: ctx.arch,
      board: ctx.board,
    });
  } catch (err) {
    throw new InputError(`${file}: template error: ${(err as Error).message}`, "fragments use handlebars: {{#if (kernelAtLeast \"4.3\")}}...{{/if}}");
  }
}

/** Render and parse one fragment into requests, with file and line for every option. */
export async function loadFragment(ref: FragmentRef, ctx: RenderContext): Promise<Request[]> {
  // Tag every source line so that line numbers survive handlebars dropping the
  // lines of blocks that render to nothing.
  const source = (await readFile(ref.file, "utf8"))
    .split("\n")
    .map((l, i) => `${l}\u0001${i + 1}\u0002`)
    .join("\n");
  const rendered = renderFragment(source, ref.file, ctx);
  const requests: Request[] = [];
  for (const raw of rendered.split("\n")) {
    // eslint-disable-next-line no-control-regex -- the line tags are control characters on purpose
    const tag = /\u0001(\d+)\u0002/.exec(raw);
    const lineNo = tag ? Number(tag[1]) : 0;
    // eslint-disable-next-line no-control-regex -- see above
    let line = raw.replace(/\u0001\d+\u0002/g, "");
    const optional = !line.trimStart().startsWith("#") && OPTIONAL.test(line);
    if (optional) line = line.replace(OPTIONAL, "");
    const parsed = parseConfig(line, ref.file, lineNo);
    for (const a of parsed.assignments) {
      requests.push({ ...a, line: lineNo, fragment: ref.name, file: ref.file, optional });
    }
  }
  return requests;
}
