/**
 * Upload over SFTP to a temporary name, check the sha256 on the board, then
 * rename: an interrupted or corrupted upload never has the final name, so it
 * can never be flashed.
 */
import { createHash } from "node:crypto";
import { KilnError } from "../errors.js";
import { shellQuote as q } from "../exec.js";
import type { Remote } from "./ssh.js";

export interface Uploaded {
  /** the private directory on the board (0700): remove it when done, also on failure */
  dir: string;
  path: string;
  sha256: string;
  bytes: number;
}

/**
 * Upload `data`, the bytes that passed the pre-flight (never the file read
 * again), into a new private directory under `remoteDir` (0700, the file 0600:
 * a kiln image holds the build's SSH host key). The sha256 is checked on the
 * board before the file gets its final name.
 */
export async function uploadVerified(remote: Remote, data: Buffer, remoteDir: string, name: string, onProgress?: (sent: number, total: number) => void): Promise<Uploaded> {
  const sha256 = createHash("sha256").update(data).digest("hex");
  const mk = await remote.exec(["mktemp", "-d", `${remoteDir}/kiln-upload.XXXXXX`]);
  const dir = mk.stdout.trim();
  if (mk.code !== 0 || !dir.startsWith(`${remoteDir}/kiln-upload.`)) {
    throw new KilnError(`cannot make a private upload directory in ${remoteDir} on ${remote.target.host}: ${mk.stderr.trim() || mk.stdout.trim()}`, { hint: "check --remote-dir; nothing was flashed" });
  }
  const remotePath = `${dir}/${name}`;
  const partial = `${dir}/.${name}.part`;
  try {
    try {
      await remote.putBuffer(data, partial, 0o600, onProgress);
    } catch (err) {
      throw new KilnError(`upload to ${remote.target.host}:${partial} was interrupted: ${(err as Error).message}`, {
        hint: "nothing was flashed; run the command again to restart the upload",
      });
    }
    const sum = await remote.exec(["sha256sum", partial]);
    const theirs = sum.stdout.trim().split(/\s+/)[0];
    if (theirs !== sha256) {
      throw new KilnError(`checksum mismatch after upload: board has ${theirs ?? "nothing"}, the checked image is ${sha256}`, {
        hint: "nothing was flashed; the upload was removed. Check the link and run again",
      });
    }
    // Idempotent: dropbear can answer "Unable to exec" right after a big SFTP transfer, and execScript
    // then starts the command again; a bench run saw the second mv find its source already moved.
    const mv = await remote.execScript(`if [ -e ${q(partial)} ]; then mv -f ${q(partial)} ${q(remotePath)}; fi; [ -f ${q(remotePath)} ]`);
    if (mv.code !== 0) throw new KilnError(`cannot rename the upload on the board: ${mv.stderr.trim() || `${remotePath} is not there`}`);
  } catch (err) {
    await removeUpload(remote, dir);
    throw err;
  }
  return { dir, path: remotePath, sha256, bytes: data.length };
}

/** Best effort: the board may be gone (rebooted, cut off); a RAM /tmp forgets it anyway. */
export async function removeUpload(remote: Remote, dir: string): Promise<void> {
  await remote.exec(["rm", "-rf", "--", dir]).catch(() => undefined);
}
