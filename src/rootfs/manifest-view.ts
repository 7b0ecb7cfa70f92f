/**
 * What other stages read of the rootfs stage's manifest.json (beside the cpio):
 * one reader, so the image stage's two questions (is the compressed file the
 * rootfs stage left the one it would make? which host key is in this ramdisk?)
 * read the same fields the same way.
 */
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";

export interface RootfsManifestView {
  sshHostKey?: string;
  sizes?: { compression?: string; command?: string };
  files?: Record<string, { sha256?: string }>;
}

/** The manifest in `rootfsDir`, or undefined when there is none or it is not JSON (a ramdisk from elsewhere). */
export async function readRootfsManifest(rootfsDir: string): Promise<RootfsManifestView | undefined> {
  try {
    return JSON.parse(await readFile(join(rootfsDir, "manifest.json"), "utf8")) as RootfsManifestView;
  } catch {
    return undefined;
  }
}

/** The sha256 recorded for a file of that name: by name, because a manifest restored from the stage cache names the directory it was built in. */
export function recordedSha256(m: RootfsManifestView, file: string): string | undefined {
  return Object.entries(m.files ?? {}).find(([p]) => basename(p) === basename(file))?.[1].sha256;
}

/** Whether the manifest records a file with this sha256 (whatever its name). */
export function recordsSha256(m: RootfsManifestView, sha256: string): boolean {
  return Object.values(m.files ?? {}).some((f) => f.sha256 === sha256);
}
