import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { checkLive, formatLive } from "../check/live.js";
import { crossCheck, parseLxcCheckconfig, runHostLxcCheckconfig } from "../check/lxc-checkconfig.js";
import { checkReadiness, formatReadiness, kernelVersionFromConfigText } from "../check/readiness.js";
import { CheckFailedError, InputError } from "../errors.js";
import { StageLog } from "../exec.js";
import { parseConfig } from "../kconfig/dotconfig.js";
import { defaultOutDir } from "../paths.js";
import { parseHostSpec } from "../remote/fleet.js";
import { sshTargetFor } from "../remote/ssh-config.js";
import { Remote } from "../remote/ssh.js";

export interface CheckOptions {
  config?: string;
  host?: string;
  port?: string;
  user?: string;
  sshConfig?: string;
  identity?: string;
  acceptNewHostKey: boolean;
  board?: string;
  out?: string;
  proof: boolean;
  memory: string;
  cpus: string;
  cpuShares: string;
  pidsMax: string;
  kernelVersion?: string;
  crossCheck: boolean;
  json: boolean;
}

export async function checkCommand(opts: CheckOptions): Promise<void> {
  if (opts.host) return checkHost(opts);
  if (!opts.config) throw new InputError("nothing to check", "pass --config PATH for a .config, or --host H for a running board");
  const path = resolve(opts.config);
  const text = await readFile(path, "utf8").catch(() => {
    throw new InputError(`cannot read ${path}`, "pass --config with the path of a kernel .config (e.g. out/<board>/kernel/.config)");
  });
  const cfg = parseConfig(text, path);
  if (cfg.values.size === 0) throw new InputError(`${path} has no CONFIG_ lines: not a kernel config`);
  const kernelVersion = opts.kernelVersion ?? kernelVersionFromConfigText(text);
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

async function checkHost(opts: CheckOptions): Promise<void> {
  const target = await sshTargetFor(parseHostSpec(opts.host as string), opts);
  // With --board, compare the board against what kiln built for it.
  const outDir = opts.out ?? (opts.board ? defaultOutDir(opts.board) : undefined);
  const configPath = opts.config ? resolve(opts.config) : outDir ? join(outDir, "kernel", ".config") : undefined;
  const builtConfig = configPath && existsSync(configPath) ? parseConfig(await readFile(configPath, "utf8"), configPath) : undefined;
  const artifacts = outDir ? join(outDir, "kernel-artifacts.json") : undefined;
  const builtRelease = artifacts && existsSync(artifacts) ? (JSON.parse(await readFile(artifacts, "utf8")) as { release: string }).release : undefined;
  const log = new StageLog(join(outDir ?? resolve("out"), "logs", "check-host.log"));
  const remote = await Remote.open(target, log);
  try {
    const report = await checkLive(remote, { builtConfig, builtRelease, proof: opts.proof, containerName: "kiln-proof", memory: opts.memory, cpus: opts.cpus, cpuShares: Number(opts.cpuShares), pidsMax: Number(opts.pidsMax) });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatLive(report)}\n`);
    if (!report.ok) {
      const failed = report.checks.filter((c) => !c.ok && c.need === "required");
      throw new CheckFailedError(`${opts.host}:${target.port} is not ready for containers: ${failed.map((c) => `${c.label} (${c.detail})`).join("; ")}`, `full log: ${log.file}`);
    }
  } finally {
    remote.close();
  }
}
