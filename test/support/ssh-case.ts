/**
 * One case of an end-to-end test against the stand-in board (test/support/sshd.ts):
 * its own kiln state directory (known hosts, logs) and output directory, so that
 * cases never see each other's trusted keys.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

export function knownHosts(c: Case): Record<string, string> {
  const file = join(c.state, "known_hosts.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : {};
}

/** Pre-trust host keys the way kiln records them, so a case starts past the host-key step. */
export function trust(c: Case, entries: Record<string, string>): void {
  writeFileSync(join(c.state, "known_hosts.json"), `${JSON.stringify({ ...knownHosts(c), ...entries }, null, 2)}\n`);
}

/** Everything a run printed, for an assertion's failure message. */
export const all = (r: KilnRun) => `exit ${r.exitCode}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
