/**
 * `kiln all`: the README's main job in one command. Build the board's image
 * (every stage, each skipped or taken from the cache when it can be), boot it
 * in QEMU through U-Boot from emulated flash, run the live check with the
 * container proof, stop QEMU, and print a summary. Exit 0 only when all of
 * that passed.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { checkLive, formatLive, type LiveReport } from "../check/live.js";
import { CheckFailedError, KilnError } from "../errors.js";
import { run, StageLog } from "../exec.js";
import { parseConfig } from "../kconfig/dotconfig.js";
import { stateDir } from "../paths.js";
import { instancePaths } from "../qemu/instance.js";
import { requireQemuBoard, stopQemu } from "../qemu/machine.js";
import { Remote } from "../remote/ssh.js";
import type { StageOutcome } from "../stage/contract.js";
import { formatSeconds } from "../stage/display.js";
import { type BuildCommandOptions, buildContext, runBuild } from "./build.js";
import { bootQemu } from "./qemu.js";

export interface AllOptions extends BuildCommandOptions {
  identity?: string;
  instance: string;
  timeout: string;
  memory: string;
  cpus: string;
}

export interface AllSummary {
  ok: boolean;
  board: string;
  stages: StageOutcome[];
  image: { file: string; size: number; parts: { role: string; size: number }[] } | null;
  boot: { seconds: number; sshPort: number; console: string } | null;
  check: { ok: boolean; passed: number; required: number; failed: string[] } | null;
  seconds: number;
  error?: string;
}

/** The SSH key `kiln all` logs in with: the user's --identity, or one kiln makes once in its state directory. */
async function ensureIdentity(given: string | undefined, log: StageLog): Promise<string> {
  if (given) {
    if (!existsSync(`${given}.pub`)) throw new KilnError(`--identity ${given}: ${given}.pub does not exist`, { hint: "the image authorises the public key next to the private one" });
    return given;
  }
  const key = join(stateDir(), "id_ed25519");
  if (!existsSync(key)) {
    await mkdir(dirname(key), { recursive: true, mode: 0o700 });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln", "-f", key], { log, what: "making kiln's SSH key" });
  }
  return key;
}

function liveSummary(r: LiveReport): NonNullable<AllSummary["check"]> {
  const required = r.checks.filter((c) => c.need === "required");
  return { ok: r.ok, passed: required.filter((c) => c.ok).length, required: required.length, failed: required.filter((c) => !c.ok).map((c) => `${c.label}: ${c.detail}`) };
}

export function formatSummary(s: AllSummary): string {
  const lines = [`kiln all --board ${s.board}: ${s.ok ? "PASSED" : "FAILED"} in ${formatSeconds(s.seconds)}`, "", "stages:"];
  for (const o of s.stages) lines.push(`  ${o.stage.padEnd(7)} ${o.how.padEnd(10)} ${formatSeconds(o.seconds)}`);
  if (s.image) {
    lines.push("", `image: ${s.image.file}, ${s.image.size} bytes (${(s.image.size / 1048576).toFixed(1)} MiB)`);
    for (const p of s.image.parts) lines.push(`  ${p.role.padEnd(8)} ${String(p.size).padStart(10)} bytes`);
  }
  if (s.boot) lines.push("", `boot:  U-Boot from flash to SSH in ${formatSeconds(s.boot.seconds)} (console log: ${s.boot.console})`);
  if (s.check) {
    lines.push(`check: ${s.check.ok ? "READY" : "NOT READY"}, ${s.check.passed} of ${s.check.required} required checks passed`);
    for (const f of s.check.failed) lines.push(`  FAILED ${f}`);
  }
  if (s.error) lines.push("", `error: ${s.error}`);
  return lines.join("\n");
}

export async function allCommand(opts: AllOptions): Promise<void> {
  const t0 = Date.now();
  const ctx0 = await buildContext(opts);
  const board = requireQemuBoard(ctx0.board);
  const log = new StageLog(join(ctx0.outDir, "logs", "all.log")).reset();
  const identity = await ensureIdentity(opts.identity, log);
  const ctx = { ...ctx0, rootfs: { ...ctx0.rootfs, authorizedKeys: [...(ctx0.rootfs?.authorizedKeys ?? []), `${identity}.pub`] } };
  const say = (text: string) => {
    if (!opts.json) process.stdout.write(`${text}\n`);
  };
  const summary: AllSummary = { ok: false, board: board.name, stages: [], image: null, boot: null, check: null, seconds: 0 };
  try {
    const built = await runBuild(ctx, "image");
    summary.stages = built.stages;
    const image = built.image;
    if (!image) throw new KilnError("the build made no image");
    const manifest = JSON.parse(await readFile(image.manifest, "utf8")) as { image: { size: number }; parts: { role: string; size: number }[]; sshHostKey: string | null };
    summary.image = { file: image.file, size: manifest.image.size, parts: manifest.parts.map((p) => ({ role: p.role, size: p.size })) };

    // A real board also emulated boots its QEMU twin: the same zImage and ramdisk, QEMU's device tree.
    const bootImage = image.qemuFile ?? image.file;
    say(`qemu: booting ${bootImage} through U-Boot from emulated NOR flash (instance "${opts.instance}")`);
    const booted = await bootQemu(board, opts.instance, bootImage, { wait: "ssh", ready: /a^/, timeoutMs: Number(opts.timeout) * 1000 });
    summary.boot = { seconds: booted.bootSeconds, sshPort: booted.sshPort, console: booted.console };
    // From here this process owns a running QEMU: Ctrl-C stops it before kiln exits.
    const onSignal = () => {
      process.stderr.write("\ninterrupted: stopping QEMU\n");
      void stopQemu(instancePaths(opts.instance)).finally(() => process.exit(130));
    };
    process.removeAllListeners("SIGINT");
    process.removeAllListeners("SIGTERM");
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      say(`qemu: SSH up after ${formatSeconds(booted.bootSeconds)}; check: lxc-checkconfig, the built config and release, a container with ${opts.memory} and cpuset ${opts.cpus}`);
      // A known-hosts file of this boot only: the key must be exactly the one the build put in the image.
      const knownHostsFile = join(instancePaths(opts.instance).dir, "known_hosts");
      await rm(knownHostsFile, { force: true });
      const remote = await Remote.open(
        { host: "127.0.0.1", port: booted.sshPort, user: "root", identity, acceptNewHostKey: false, announcedHostKey: manifest.sshHostKey ?? undefined, knownHostsFile },
        log,
      );
      let report: LiveReport;
      try {
        const kernel = built.kernel;
        report = await checkLive(remote, {
          builtConfig: kernel ? parseConfig(await readFile(kernel.configPath, "utf8"), kernel.configPath) : undefined,
          builtRelease: kernel?.release,
          proof: true,
          containerName: "kiln-proof",
          memory: opts.memory,
          cpus: opts.cpus,
        });
      } finally {
        remote.close();
      }
      summary.check = liveSummary(report);
      if (!opts.json) process.stdout.write(`${formatLive(report)}\n`);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await stopQemu(instancePaths(opts.instance));
    }
    summary.ok = summary.check?.ok === true;
  } catch (err) {
    summary.error = err instanceof Error ? err.message : String(err);
    summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
    if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`\n${formatSummary(summary)}\n`);
    throw err;
  }
  summary.seconds = Math.round((Date.now() - t0) / 100) / 10;
  process.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `\n${formatSummary(summary)}\n`);
  if (!summary.ok) throw new CheckFailedError(`the board booted but is not ready for containers: ${summary.check?.failed.join("; ") ?? "no check ran"}`, `full log: ${log.file}`);
}
