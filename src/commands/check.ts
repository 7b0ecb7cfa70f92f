import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { crossCheck, parseLxcCheckconfig, runHostLxcCheckconfig } from "../check/lxc-checkconfig.js";
import { checkReadiness, formatReadiness } from "../check/readiness.js";
import { CheckFailedError, InputError } from "../errors.js";
import { parseConfig } from "../kconfig/dotconfig.js";

export interface CheckOptions {
  config: string;
  kernelVersion?: string;
  crossCheck: boolean;
  json: boolean;
}

/** The kernel writes "# Linux/arm 6.1.192 Kernel Configuration" at the top of every .config. */
export function versionFromHeader(text: string): string | undefined {
  return /^#\s*Linux\/\S+\s+(\d+\.\d+(?:\.\d+)?\S*)\s+Kernel Configuration/m.exec(text)?.[1];
}

export async function checkCommand(opts: CheckOptions): Promise<void> {
  const path = resolve(opts.config);
  const text = await readFile(path, "utf8").catch(() => {
    throw new InputError(`cannot read ${path}`, "pass --config with the path of a kernel .config (e.g. out/<board>/kernel/.config)");
  });
  const cfg = parseConfig(text, path);
  if (cfg.values.size === 0) throw new InputError(`${path} has no CONFIG_ lines: not a kernel config`);
  const kernelVersion = opts.kernelVersion ?? versionFromHeader(text);
  const report = checkReadiness(cfg, { kernelVersion });
  if (opts.crossCheck) {
    const output = await runHostLxcCheckconfig(path);
    if (output !== undefined) report.crossCheck = crossCheck(report, parseLxcCheckconfig(output));
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ config: path, kernelVersion, ...report }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatReadiness(report)}\n`);
  }
  if (!report.ok) {
    const failed = report.results.filter((r) => r.need === "required" && !r.ok);
    throw new CheckFailedError(
      `${path} is not ready for containers: ${failed.map((r) => `${r.label} (${r.missing.map((m) => `CONFIG_${m}`).join(" or ")})`).join(", ")}`,
      "add the missing options to a fragment and run `kiln config` again",
    );
  }
}
