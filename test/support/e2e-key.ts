/**
 * The SSH key every end-to-end build of qemu-virt authorises. One key at a fixed
 * path in kiln's cache: the rootfs and QEMU tests share one build directory, and a
 * different key in each would rebuild the rootfs every time the other test ran.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { cacheDir } from "../../src/paths.js";

export const e2eDir = join(cacheDir(), "e2e");
export const e2eKey = join(e2eDir, "id_ed25519");

export async function ensureE2eKey(): Promise<string> {
  mkdirSync(e2eDir, { recursive: true });
  if (!existsSync(e2eKey)) await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln-e2e", "-f", e2eKey]);
  return e2eKey;
}
