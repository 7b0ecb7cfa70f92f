/**
 * Which host keys kiln trusts. kiln's own pins live in its state directory in
 * OpenSSH's known_hosts format (so `ssh -o UserKnownHostsFile=...` reads them);
 * the user's own known_hosts files (as `ssh -G` names them) are trusted too,
 * read only. Strict by default: an unknown key is refused with its fingerprint
 * unless the user says to trust it once; a changed key is always refused.
 *
 * Parsing and matching are pure; loading and saving are at the bottom.
 */
import { createHash, createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { InputError } from "../errors.js";
import { withFileLock, writeFileAtomic } from "../fsutil.js";
import { stateDir } from "../paths.js";

export function knownHostsFile(): string {
  return join(stateDir(), "known_hosts");
}

/** Where kiln kept fingerprints before it wrote OpenSSH's format: still read, never written. */
export function legacyKnownHostsFile(): string {
  return join(stateDir(), "known_hosts.json");
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** As OpenSSH names a host in known_hosts: the bare name on port 22, else [host]:port. */
export function hostId(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** "ssh-ed25519 AAAA...": the public key line a server's key blob makes (its type is the blob's first string). */
export function publicKeyLine(blob: Buffer): string {
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = blob.subarray(4, 4 + len).toString("latin1");
  return `${type} ${blob.toString("base64")}`;
}

export interface KnownHostsEntry {
  marker?: "@revoked" | "@cert-authority";
  /** the host field as written: patterns, comma separated, or one |1|salt|hash */
  hosts: string;
  type: string;
  fingerprint: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * One known_hosts file. `strict` (kiln's own file): a line that is not an
 * entry is an error naming it, because a save would otherwise carry garbage or
 * drop pins. Not strict (the user's files): skipped, as ssh skips them.
 */
export function parseKnownHosts(text: string, file: string, strict: boolean): KnownHostsEntry[] {
  const entries: KnownHostsEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    let fields = line.split(/\s+/);
    let marker: KnownHostsEntry["marker"];
    if (fields[0]?.startsWith("@")) {
      if (fields[0] !== "@revoked" && fields[0] !== "@cert-authority") return bad(`unknown marker ${fields[0]}`);
      marker = fields[0];
      fields = fields.slice(1);
    }
    const [hosts, type, key] = fields;
    if (!hosts || !type || !key || !BASE64.test(key)) return bad("not \"hosts keytype base64-key [comment]\"");
    const blob = Buffer.from(key, "base64");
    if (!publicKeyLine(blob).startsWith(`${type} `)) return bad(`the key is not a ${type} key`);
    entries.push({ ...(marker ? { marker } : {}), hosts, type, fingerprint: fingerprint(blob) });
    function bad(why: string): void {
      if (strict) throw new InputError(`${file} line ${i + 1} is not a known_hosts entry: ${why}`, "repair that line (ssh-keygen -l -f FILE lists what OpenSSH reads), or move the file away to start over; kiln does not overwrite it");
    }
  });
  return entries;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}

/** Whether a known_hosts host field names `id` (host or [host]:port): hashed names, patterns and negations as sshd(8) describes them. */
export function hostFieldMatches(field: string, id: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt = "", hash = ""] = field.split("|");
    return createHmac("sha1", Buffer.from(salt, "base64")).update(id).digest("base64") === hash;
  }
  let matched = false;
  for (const pattern of field.split(",")) {
    const negated = pattern.startsWith("!");
    if (globToRegExp(negated ? pattern.slice(1) : pattern).test(id)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export interface Pins {
  /** fingerprints trusted for the host, from the first source that has any */
  keys: string[];
  /** the file they came from, for messages */
  from?: string;
  /** key types of those pins, so the handshake asks for the pinned kind first */
  types: string[];
  /** fingerprints marked @revoked in any source */
  revoked: string[];
}

/** The pins for `id` from sources in order of precedence: kiln's own file, then the user's. */
export function pinsFor(sources: readonly { file: string; entries: readonly KnownHostsEntry[] }[], id: string): Pins {
  const revoked = sources.flatMap((s) => s.entries.filter((e) => e.marker === "@revoked" && hostFieldMatches(e.hosts, id)).map((e) => e.fingerprint));
  for (const s of sources) {
    const mine = s.entries.filter((e) => e.marker === undefined && hostFieldMatches(e.hosts, id));
    if (mine.length > 0) return { keys: mine.map((e) => e.fingerprint), types: [...new Set(mine.map((e) => e.type))], from: s.file, revoked };
  }
  return { keys: [], types: [], revoked };
}

export type HostKeyVerdict = { ok: true; learned: boolean } | { ok: false; reason: "unknown" | "changed" | "revoked"; expected?: string };

/**
 * `announced` is a key kiln was told to expect by something it trusts more than
 * the network: the build manifest of the image it has just flashed (kiln flash
 * refuses beforehand when that would replace a pin without --replace-host-key).
 * After that reboot the board shows the new image's key, which is accepted (and
 * saved) only when it is exactly that one.
 */
export function judgeHostKey(pins: Pick<Pins, "keys" | "revoked">, fp: string, acceptNew: boolean, announced?: string): HostKeyVerdict {
  if (pins.revoked.includes(fp)) return { ok: false, reason: "revoked" };
  if (announced !== undefined && fp === announced) return { ok: true, learned: !pins.keys.includes(fp) };
  if (pins.keys.length === 0) return acceptNew ? { ok: true, learned: true } : { ok: false, reason: "unknown" };
  if (pins.keys.includes(fp)) return { ok: true, learned: false };
  return { ok: false, reason: "changed", ...(pins.keys[0] ? { expected: pins.keys[0] } : {}) };
}

const HOST_KEY_ALGORITHMS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];

/**
 * The host key algorithms to offer, the pinned kinds first (as ssh orders
 * them): a board with an RSA pin and an ed25519 key must show the RSA one.
 * ssh2 takes an exact list (its "prepend" does not move what is already there).
 */
export function hostKeyAlgorithms(types: readonly string[]): string[] {
  const pinned = types.flatMap((t) => (t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t])).filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  return [...pinned, ...HOST_KEY_ALGORITHMS.filter((a) => !pinned.includes(a))];
}

/** No file yet is an empty list; a file that cannot be read is an error: treated as empty, the next save would drop every other pin. */
async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new InputError(`cannot read the known hosts ${file}: ${(err as Error).message}`, "fix its permissions; kiln does not go on without the keys it has pinned");
  }
}

export async function loadKnownHosts(file = knownHostsFile()): Promise<KnownHostsEntry[]> {
  const text = await readIfThere(file);
  return text === undefined ? [] : parseKnownHosts(text, file, true);
}

/** The old JSON pins ({"host": "SHA256:..."}), as entries. */
async function loadLegacy(file: string): Promise<KnownHostsEntry[]> {
  const text = await readIfThere(file);
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InputError(`kiln's known hosts ${file} is not valid JSON: ${(err as Error).message}`, "repair it, or move it away (kiln's pins are now kept in known_hosts beside it)");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== "string" || !v.startsWith("SHA256:"))) {
    throw new InputError(`kiln's known hosts ${file} is not a list of pinned keys`, "each entry must map a host to a SHA256: fingerprint; repair it or move it away");
  }
  return Object.entries(parsed as Record<string, string>).map(([hosts, fp]) => ({ hosts, type: "", fingerprint: fp }));
}

/** The user's own known_hosts files: ssh -G's UserKnownHostsFile and GlobalKnownHostsFile, else OpenSSH's defaults. */
export function defaultUserKnownHosts(): string[] {
  return [join(homedir(), ".ssh", "known_hosts"), join(homedir(), ".ssh", "known_hosts2"), "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];
}

/** Every source kiln trusts for a host, in order: its own file, its old JSON file (with the default file only), the user's files. */
export async function loadPins(id: string, kilnFile: string | undefined, userFiles: readonly string[]): Promise<Pins> {
  const own = kilnFile ?? knownHostsFile();
  const sources = [{ file: own, entries: await loadKnownHosts(own) }];
  if (kilnFile === undefined) sources.push({ file: legacyKnownHostsFile(), entries: await loadLegacy(legacyKnownHostsFile()) });
  for (const f of userFiles) {
    const text = await readFile(f, "utf8").catch(() => undefined);
    if (text !== undefined) sources.push({ file: f, entries: parseKnownHosts(text, f, false) });
  }
  return pinsFor(sources, id);
}

/** Saves one after the other: boards connected in parallel each learn a key, and no save may undo another. */
let saving: Promise<void> = Promise.resolve();

/** Pin `publicKey` ("type base64") for `id` in kiln's own file, replacing what kiln pinned for that host before. */
export async function saveKnownHost(id: string, publicKey: string, file = knownHostsFile()): Promise<void> {
  const next = saving.then(() =>
    // Other kiln processes may save at the same time: one at a time, each re-reading the file.
    withFileLock(file, async () => {
      const text = (await readIfThere(file)) ?? "";
      parseKnownHosts(text, file, true);
      const kept = text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .flatMap((l) => {
          const m = /^(@\S+\s+)?(\S+)(\s.*)$/.exec(l);
          if (!m || l.trim().startsWith("#")) return [l];
          const hosts = (m[2] ?? "").split(",").filter((h) => h !== id);
          return hosts.length === 0 ? [] : [`${m[1] ?? ""}${hosts.join(",")}${m[3] ?? ""}`];
        });
      await writeFileAtomic(file, `${[...kept, `${id} ${publicKey}`].join("\n")}\n`);
    }),
  );
  saving = next.catch(() => undefined);
  return next;
}
