/**
 * The host's lxc-checkconfig as a second opinion on a .config.
 *
 * Its output is made for eyes, not programs: its exit code is 0 whatever it
 * finds, it colours words when stdout is a terminal, a missing lsmod drops a
 * shell error into the middle of a line, and with CONFIG= it still reports the
 * host it runs on (cgroup mounts, newuidmap). Only the answers the config
 * decides are kept here.
 */
import { copyFile, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CommandError, InputError, KilnError } from "../errors.js";
import { capture } from "../exec.js";
import type { CrossCheck, ReadinessReport } from "./readiness.js";
import { lxcStatusOf } from "./readiness.js";


/**
 * Lines that describe the machine running lxc-checkconfig, not the config it
 * was given. "Cgroup namespace" belongs here: LXC 5.0.2 decides it from the
 * host's /proc/self/ns/cgroup even with CONFIG= set.
 */
export const HOST_DECIDED_LABELS: readonly string[] = [
  "Cgroup namespace",
  "Cgroup v1 mount points",
  "Cgroup v2 mount points",
  "Cgroup v1 systemd controller",
  "Cgroup v1 freezer controller",
  "Cgroup v1 clone_children flag",
];

const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, "g");
// dash: "/usr/bin/lxc-checkconfig: 64: lsmod: not found"; bash: "...: line 64: lsmod: command not found".
// It is glued to the status word before it ("enabled/usr/bin/..."), so the
// prefix must start at the script's path, not at the first non-blank.
const LSMOD_NOISE =
  /(?:(?:\/[^:\s]*|\b(?:sh|dash|bash|ash|busybox|lxc-checkconfig)):\s+(?:line\s+)?\d+:\s+)?lsmod:\s+(?:command\s+)?not found/g;
// is_probed's suffix after "enabled": whether the module is loaded on the host.
const PROBE_NOISE = /,\s*(?:not\s+)?loaded\b/g;
const LINE = /^([^:]+?)\s*:\s*(.*)$/;

function isNoise(label: string, line: string): boolean {
  if (HOST_DECIDED_LABELS.includes(label)) return true;
  // The tool's own banner and footer, and its remarks on the host's uid-mapping tools.
  if (/^(?:Note|usage|WARNING)$/.test(label)) return true;
  if (/^(?:Warning: )?new[ug]idmap\b/.test(line)) return true;
  return false;
}

/** Clean lines of lxc-checkconfig output (stdout alone, or stdout and stderr merged). */
export function cleanLxcCheckconfigOutput(output: string): string[] {
  return output
    .replace(ANSI, "")
    .replace(/\r/g, "")
    .split("\n")
    .map((l) => l.replace(LSMOD_NOISE, "").replace(PROBE_NOISE, "").trimEnd());
}

/** label -> "enabled" | "required" | "missing" | other text, for the checks the config decides. */
export function parseLxcCheckconfig(output: string): Map<string, string> {
  const statuses = new Map<string, string>();
  for (const line of cleanLxcCheckconfigOutput(output)) {
    // Section headers, mount point lists (" - /sys/fs/cgroup/..."), banners without a colon.
    if (line.startsWith("---") || line.startsWith(" ")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const label = (m[1] as string).trim();
    const status = (m[2] as string).trim();
    if (label === "" || status === "" || isNoise(label, line)) continue;
    statuses.set(label, status);
  }
  return statuses;
}

/** Compare kiln's results with lxc-checkconfig's statuses, by label. */
export function crossCheck(report: ReadinessReport, lxc: Map<string, string>): CrossCheck {
  let agreed = 0;
  const disagreements: CrossCheck["disagreements"] = [];
  const labels = new Set<string>();
  for (const r of report.results) {
    labels.add(r.label);
    const theirs = lxc.get(r.label);
    // It stays silent on questions that do not arise for this config (cpuset
    // without SMP, /dev/pts instances after 4.7): nothing to compare.
    if (theirs === undefined) continue;
    // Compare what each found, in lxc-checkconfig's words: kiln requiring more
    // than lxc-checkconfig does is policy, not disagreement.
    const ours = lxcStatusOf(r);
    if (ours === theirs) agreed++;
    else disagreements.push({ label: r.label, kiln: ours, lxc: theirs });
  }
  const lxcOnly = [...lxc.keys()].filter((l) => !labels.has(l));
  return { tool: "lxc-checkconfig", agreed, disagreements, lxcOnly };
}

// lxc-checkconfig expands $CONFIG unquoted; a path it would split or glob makes
// it fall back to the host's own kernel config without saying so clearly.
const SHELL_SAFE_PATH = /^[A-Za-z0-9._/+,@=:-]+$/;

/**
 * Run the host's lxc-checkconfig on a config file; undefined when it is not
 * installed. Its exit code is ignored: it is 0 whatever it finds.
 */
export async function runHostLxcCheckconfig(configPath: string): Promise<string | undefined> {
  const path = resolve(configPath);
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) {
    // Given a path that is not a file, lxc-checkconfig checks the host's kernel instead.
    throw new InputError(`kernel config not found: ${configPath}`, "pass the path of a kernel .config file");
  }
  let tmp: string | undefined;
  let config = path;
  try {
    if (!SHELL_SAFE_PATH.test(path)) {
      tmp = await mkdtemp(join(tmpdir(), "kiln-lxc-checkconfig-"));
      config = join(tmp, "config");
      await copyFile(path, config);
    }
    const r = await capture("lxc-checkconfig", [], { env: { CONFIG: config }, timeoutMs: 120_000 });
    if (r.missing) return undefined;
    if (r.timedOut) {
      throw new CommandError(`lxc-checkconfig did not finish on ${configPath}`, {
        tail: `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-10),
      });
    }
    if (/Kernel configuration (?:not )?found at|unable to retrieve kernel configuration/.test(`${r.stdout}\n${r.stderr}`)) {
      throw new KilnError(`lxc-checkconfig did not read ${configPath} and looked for the host's kernel config instead`, {
        hint: "check that the file is readable",
        tail: `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(0, 5),
      });
    }
    return r.stdout;
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}
