/**
 * kiln probe: read-only facts about a running board, saved as the unit's profile
 * (one per unit: host, port and host key, in kiln's state directory).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../errors.js";
import { StageLog } from "../exec.js";
import { writeFileAtomic } from "../fsutil.js";
import { stateDir } from "../paths.js";
import { freeBytes, readIdentity, readProcMtd, whichFlashcfg } from "../remote/probe.js";
import { boardLogName, parseHostSpec } from "../remote/fleet.js";
import { profileFile, type UnitProfile } from "../remote/profile.js";
import { Remote } from "../remote/ssh.js";
import { sshTargetFor } from "../remote/ssh-config.js";

export interface ProbeOptions {
  host: string;
  port?: string;
  user?: string;
  sshConfig?: string;
  identity?: string;
  acceptNewHostKey: boolean;
  remoteDir: string;
  manifest?: string;
  json: boolean;
}

export async function probeCommand(opts: ProbeOptions): Promise<void> {
  const target = await sshTargetFor(parseHostSpec(opts.host), opts);
  const port = target.port;
  const log = new StageLog(join(stateDir(), "logs", boardLogName("probe", opts.host, port))).reset();
  const remote = await Remote.open(target, log);
  try {
    const id = await readIdentity(remote);
    const release = (await remote.exec(["uname", "-r"])).stdout.trim();
    const mem = /MemTotal:\s+(\d+)/.exec((await remote.exec(["cat", "/proc/meminfo"])).stdout)?.[1];
    let matchesBuild: UnitProfile["matchesBuild"];
    if (opts.manifest) {
      if (!existsSync(opts.manifest)) throw new InputError(`build manifest ${opts.manifest} does not exist`);
      const m = JSON.parse(await readFile(opts.manifest, "utf8")) as { kernel?: { release?: string } };
      const built = m.kernel?.release ?? "?";
      matchesBuild = { manifest: opts.manifest, release: built, same: built === release };
    }
    const profile: UnitProfile = {
      hostKey: remote.hostKey,
      host: opts.host,
      port,
      probedAt: new Date().toISOString(),
      model: id.model,
      cpuinfoHardware: id.cpuinfoHardware,
      release,
      memoryKiB: mem ? Number(mem) : undefined,
      mtd: await readProcMtd(remote),
      uploadDir: { path: opts.remoteDir, freeBytes: await freeBytes(remote, opts.remoteDir) },
      flashcfg: await whichFlashcfg(remote),
      matchesBuild,
    };
    const file = profileFile(remote.hostKey, opts.host, port);
    await writeFileAtomic(file, `${JSON.stringify(profile, null, 2)}\n`);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ...profile, profile: file }, null, 2)}\n`);
    else process.stdout.write(formatProfile(profile, file));
  } finally {
    remote.close();
  }
}

export function formatProfile(p: UnitProfile, file: string): string {
  const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
  const lines = [
    `${p.host}:${p.port}  (host key ${p.hostKey})`,
    `  model:     ${p.model ?? (p.cpuinfoHardware ? `Hardware: ${p.cpuinfoHardware}` : "unknown")}`,
    `  kernel:    ${p.release}${p.matchesBuild ? (p.matchesBuild.same ? " (the build in the manifest)" : ` (manifest says ${p.matchesBuild.release})`) : ""}`,
    `  memory:    ${p.memoryKiB !== undefined ? `${Math.round(p.memoryKiB / 1024)} MiB` : "?"}`,
    `  flashcfg:  ${p.flashcfg.kind}${p.flashcfg.path ? ` (${p.flashcfg.path})` : ""}`,
    `  ${p.uploadDir.path}: ${p.uploadDir.freeBytes !== undefined ? `${Math.round(p.uploadDir.freeBytes / 1024 / 1024)} MiB free` : "?"}`,
    `  flash:     ${p.mtd.length === 0 ? "no MTD partitions" : ""}`,
    ...p.mtd.map((m) => `    ${m.dev.padEnd(6)} size ${hex(m.size)} erase ${hex(m.eraseSize)}  "${m.name}"`),
    `profile saved: ${file}`,
    "",
  ];
  return lines.join("\n");
}
