/**
 * Upload over SFTP to a temporary name, check the sha256 on the board, then
 * rename: an interrupted or corrupted upload never has the final name, so it
 * can never be flashed.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { KilnError } from "../errors.js";
import type { Remote } from "./ssh.js";

export async function uploadVerified(
  remote: Remote,
  local: string,
  remotePath: string,
  onProgress?: (sent: number, total: number) => void,
): Promise<{ sha256: string; bytes: number }> {
  const data = await readFile(local);
  const sha256 = createHash("sha256").update(data).digest("hex");
  const partial = `${posix.dirname(remotePath)}/.${posix.basename(remotePath)}.part`;
  await remote.exec(["rm", "-f", partial, remotePath]);
  try {
    await remote.putFile(local, partial, onProgress);
  } catch (err) {
    await remote.exec(["rm", "-f", partial]).catch(() => undefined);
    throw new KilnError(`upload of ${local} to ${remote.target.host}:${partial} was interrupted: ${(err as Error).message}`, {
      hint: "nothing was flashed; run the command again to restart the upload",
    });
  }
  const sum = await remote.exec(["sha256sum", partial]);
  const theirs = sum.stdout.trim().split(/\s+/)[0];
  if (theirs !== sha256) {
    await remote.exec(["rm", "-f", partial]);
    throw new KilnError(`checksum mismatch after upload: board has ${theirs ?? "nothing"}, local file is ${sha256}`, {
      hint: "nothing was flashed; the partial file was removed. Check the link and run again",
    });
  }
  const mv = await remote.exec(["mv", partial, remotePath]);
  if (mv.code !== 0) throw new KilnError(`cannot rename the upload on the board: ${mv.stderr.trim()}`);
  return { sha256, bytes: data.length };
}
