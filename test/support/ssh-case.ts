/**
 * One case of an end-to-end test against the stand-in board (test/support/sshd.ts):
 * its own kiln state directory (known hosts, logs) and output directory, so that
 * cases never see each other's trusted keys.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { KilnRun } from "./cli.js";

export interface Case {
  state: string;
  out: string;
}

export function newCase(work: string, name: string): Case {
  const dir = mkdtempSync(join(work, `${name}-`));
  const c = { state: join(dir, "state"), out: join(dir, "out") };
  mkdirSync(c.state);
  return c;
}

/** How kiln names a loopback board in its known hosts. */
export const hostId = (port: number) => `[127.0.0.1]:${port}`;

/** kiln's pins, host to fingerprint, as OpenSSH's own ssh-keygen reads the file (the format is OpenSSH's). */
export function knownHosts(c: Case): Record<string, string> {
  const file = join(c.state, "known_hosts");
  if (!existsSync(file)) return {};
  const listed = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" });
  return Object.fromEntries(listed.trim().split("\n").filter(Boolean).map((l) => {
    const [, fp = "", host = ""] = l.split(" ");
    return [host, fp];
  }));
}

/** Pre-trust host keys ("ssh-ed25519 AAAA...") the way kiln records them, so a case starts past the host-key step. */
export function trust(c: Case, entries: Record<string, string>): void {
  const lines = Object.entries(entries).map(([host, key]) => `${host} ${key}\n`);
  appendFileSync(join(c.state, "known_hosts"), lines.join(""));
}

/** Everything a run printed, for an assertion's failure message. */
export const all = (r: KilnRun) => `exit ${r.exitCode}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
