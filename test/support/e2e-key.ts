/**
 * The SSH key every end-to-end build authorises: kiln's own (the one `kiln all`
 * makes in its state directory and logs in with). One key at a fixed path: the
 * rootfs and QEMU tests share one build directory, and a different key in each
 * would rebuild the rootfs every time the other test ran; and being kiln's own,
 * the main job after the tests (.ci/run) takes the same root filesystem from
 * the stage cache instead of building another.
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { cacheDir, stateDir } from "../../src/paths.js";

export const e2eDir = join(cacheDir(), "e2e");
export const e2eKey = join(stateDir(), "id_ed25519");

export async function ensureE2eKey(): Promise<string> {
  mkdirSync(e2eDir, { recursive: true });
  mkdirSync(dirname(e2eKey), { recursive: true, mode: 0o700 });
  if (!existsSync(e2eKey)) await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "kiln", "-f", e2eKey]);
  return e2eKey;
}
