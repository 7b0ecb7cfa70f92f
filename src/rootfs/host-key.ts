/**
 * The SSH host key of a build. A key made at boot lives in the ramdisk's RAM and
 * is new after every reboot, which strict host-key checking must refuse; so the
 * key is made once per build directory, carried into the image, and its
 * fingerprint recorded, so that kiln knows which key a board flashed with this
 * image will show. The image then holds a private key: treat it as a secret.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { KilnError } from "../errors.js";
import { writeFileAtomic } from "../fsutil.js";
import { fingerprint } from "../remote/known-hosts.js";
import { readRootfsManifest, recordsSha256 } from "./manifest-view.js";

const ALG = "ssh-ed25519";

export interface HostKey {
  /** dropbear's private key file */
  file: string;
  /** SHA256:... as ssh-keygen -l and kiln's known_hosts show it */
  fingerprint: string;
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** dropbear's ed25519 key file: string "ssh-ed25519", uint32 64, seed, public key. */
export function dropbearEd25519(seed: Buffer, pub: Buffer): Buffer {
  return Buffer.concat([sshString(Buffer.from(ALG)), sshString(Buffer.concat([seed, pub]))]);
}

/** The public key blob an SSH client is shown (and fingerprints). */
export function publicBlob(pub: Buffer): Buffer {
  return Buffer.concat([sshString(Buffer.from(ALG)), sshString(pub)]);
}

/** Read back a key file written by dropbearEd25519 (or dropbearkey -t ed25519). */
export function parseDropbearEd25519(file: Buffer): { seed: Buffer; pub: Buffer } {
  const algLen = file.readUInt32BE(0);
  const alg = file.subarray(4, 4 + algLen).toString();
  const keyLen = file.readUInt32BE(4 + algLen);
  if (alg !== ALG || keyLen !== 64 || file.length < 8 + algLen + 64) throw new Error("not a dropbear ed25519 key");
  const key = file.subarray(8 + algLen, 8 + algLen + 64);
  return { seed: key.subarray(0, 32), pub: key.subarray(32) };
}

export function hostKeyPath(outDir: string): string {
  return join(outDir, "ssh-host-key", "dropbear_ed25519_host_key");
}

/** The build directory's host key, made on first use and kept across rebuilds. */
export async function ensureHostKey(outDir: string): Promise<HostKey> {
  const file = hostKeyPath(outDir);
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync("ed25519");
    const jwk = privateKey.export({ format: "jwk" });
    if (!jwk.d || !jwk.x) throw new KilnError("Node's crypto returned an ed25519 key without its parts");
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, dropbearEd25519(Buffer.from(jwk.d, "base64url"), Buffer.from(jwk.x, "base64url")), 0o600);
  }
  // The key also ends up inside the ramdisk, the image and flash backups, all under outDir.
  await chmod(outDir, 0o700);
  let parsed: { pub: Buffer };
  try {
    parsed = parseDropbearEd25519(await readFile(file));
  } catch {
    throw new KilnError(`${file} is not a dropbear ed25519 host key`, { hint: "delete it: kiln makes a new one (boards flashed with the old image will show a new key)" });
  }
  return { file, fingerprint: fingerprint(publicBlob(parsed.pub)) };
}

/** The host key inside a ramdisk: the rootfs stage's manifest records it with the ramdisk's sha256. */
export async function hostKeyOfRamdisk(outDir: string, ramdiskSha256: string): Promise<string | undefined> {
  const m = await readRootfsManifest(join(outDir, "rootfs"));
  return m && recordsSha256(m, ramdiskSha256) ? m.sshHostKey : undefined;
}

/**
 * The host key a board will show once it boots `image`: known when the image is
 * the one the build in `outDir` made (same sha256) and its manifest records the
 * key of the ramdisk packed into it. Anything else (another image, a vendor
 * image) announces none.
 */
export async function announcedHostKey(outDir: string, imageSha256: string): Promise<string | undefined> {
  try {
    const m = JSON.parse(await readFile(join(outDir, "manifest.json"), "utf8")) as { image?: { sha256?: string }; sshHostKey?: string | null };
    return m.image?.sha256 === imageSha256 ? (m.sshHostKey ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}
