/**
 * kiln's own record of board host keys (in its state directory): strict by
 * default. An unknown key is refused with its fingerprint unless the user says to
 * trust it once; a changed key is always refused.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../errors.js";
import { withFileLock, writeFileAtomic } from "../fsutil.js";
import { stateDir } from "../paths.js";

export type KnownHosts = Record<string, string>;

export function knownHostsFile(): string {
  return join(stateDir(), "known_hosts.json");
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

export function hostId(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * No file yet is an empty list; a file that cannot be read or is not a list of
 * pins is an error: treated as empty, the next save would drop every other pin.
 */
export async function loadKnownHosts(file = knownHostsFile()): Promise<KnownHosts> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new InputError(`cannot read kiln's known hosts ${file}: ${(err as Error).message}`, "fix its permissions; kiln does not go on without the keys it has pinned");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InputError(`kiln's known hosts ${file} is not valid JSON: ${(err as Error).message}`, "repair it (a JSON object of \"host\" or \"[host]:port\" to \"SHA256:...\"), or move it away to start over; kiln does not overwrite it");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== "string" || !v.startsWith("SHA256:"))) {
    throw new InputError(`kiln's known hosts ${file} is not a list of pinned keys`, "each entry must map a host to a SHA256: fingerprint; repair it or move it away");
  }
  return parsed as KnownHosts;
}

/** Saves one after the other: boards connected in parallel each learn a key, and no save may undo another. */
let saving: Promise<void> = Promise.resolve();

export async function saveKnownHost(id: string, fp: string, file = knownHostsFile()): Promise<void> {
  const next = saving.then(() =>
    // Other kiln processes may save at the same time: one at a time, each re-reading the file.
    withFileLock(file, async () => {
      const hosts = await loadKnownHosts(file);
      hosts[id] = fp;
      await writeFileAtomic(file, `${JSON.stringify(hosts, null, 2)}\n`);
    }),
  );
  saving = next.catch(() => undefined);
  return next;
}

export type HostKeyVerdict = { ok: true; learned: boolean } | { ok: false; reason: "unknown" | "changed"; expected?: string };

/**
 * `announced` is a key kiln was told to expect by something it trusts more than
 * the network: the build manifest of the image it has just flashed. After that
 * reboot the board shows the new image's key, which is accepted (and saved)
 * only when it is exactly that one.
 */
export function judgeHostKey(known: KnownHosts, id: string, fp: string, acceptNew: boolean, announced?: string): HostKeyVerdict {
  const expected = known[id];
  if (announced !== undefined && fp === announced) return { ok: true, learned: expected !== fp };
  if (expected === undefined) return acceptNew ? { ok: true, learned: true } : { ok: false, reason: "unknown" };
  if (expected === fp) return { ok: true, learned: false };
  return { ok: false, reason: "changed", expected };
}
