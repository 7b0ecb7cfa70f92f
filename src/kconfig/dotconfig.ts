/**
 * The kernel's .config format and the fragment format share one line grammar:
 *   CONFIG_X=y | m | n | "string" | 123 | 0x1f
 *   # CONFIG_X is not set
 * Anything else that is not blank or a comment is an error with its line number.
 */
import { InputError } from "../errors.js";

export interface ConfigAssignment {
  /** Symbol name without the CONFIG_ prefix. */
  name: string;
  /** "y", "m", "n", a number as written, or a string value without quotes. */
  value: string;
  /** True when the value was written in double quotes. */
  quoted: boolean;
  line: number;
}

export interface ParsedConfig {
  /** Last assignment wins, as in the kernel's own tools. */
  values: Map<string, ConfigAssignment>;
  /** Every assignment in file order, duplicates included. */
  assignments: ConfigAssignment[];
}

const SET = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$/;
const VALUE = /^(?:[ymn]|-?\d+|0[xX][0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/;

export function parseConfigLine(raw: string): Omit<ConfigAssignment, "line"> | "skip" | "invalid" {
  const line = raw.trim();
  if (line === "") return "skip";
  const unset = UNSET.exec(line);
  if (unset) return { name: unset[1] as string, value: "n", quoted: false };
  if (line.startsWith("#")) return "skip";
  const set = SET.exec(line);
  if (!set) return "invalid";
  const value = (set[2] as string).trim();
  if (!VALUE.test(value)) return "invalid";
  if (value.startsWith('"')) {
    return { name: set[1] as string, value: unescape(value.slice(1, -1)), quoted: true };
  }
  return { name: set[1] as string, value, quoted: false };
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}

/**
 * Parse config text. `source` names the file in error messages; fragments are
 * strict (bad lines are errors), a kernel-written .config is trusted.
 */
export function parseConfig(text: string, source = "<config>", firstLine = 1): ParsedConfig {
  const values = new Map<string, ConfigAssignment>();
  const assignments: ConfigAssignment[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const parsed = parseConfigLine(raw);
    if (parsed === "skip") continue;
    if (parsed === "invalid") {
      throw new InputError(
        `${source}:${i + firstLine}: not a kernel config line: ${JSON.stringify(raw.trim())}`,
        'each line must be CONFIG_NAME=y|m|n|"string"|number, "# CONFIG_NAME is not set", a comment or blank',
      );
    }
    const a: ConfigAssignment = { ...parsed, line: i + firstLine };
    assignments.push(a);
    values.set(a.name, a);
  }
  return { values, assignments };
}

/** The value a symbol has in a .config: absent or "is not set" both mean "n" for bool/tristate. */
export function configValue(cfg: ParsedConfig, name: string): string {
  return cfg.values.get(name)?.value ?? "n";
}

export function formatAssignment(name: string, value: string, quoted = false): string {
  if (value === "n") return `# CONFIG_${name} is not set`;
  if (quoted) return `CONFIG_${name}="${value.replace(/(["\\])/g, "\\$1")}"`;
  return `CONFIG_${name}=${value}`;
}
