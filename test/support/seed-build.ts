import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";

/**
 * Start a build directory as a copy of another, so one changed option costs an
 * incremental kernel build (kbuild's fixdep rebuilds only what uses the option)
 * instead of a cold one. Stamps and artefact lists name absolute paths: they are
 * rewritten so nothing in the copy points back at the original.
 */
export async function seedBuildDir(from: string, to: string): Promise<void> {
  const keyOf = (dir: string) => join(dir, "ssh-host-key", "dropbear_ed25519_host_key");
  if (existsSync(join(to, "stamps"))) {
    // A copy from an older run may still share the original's key.
    if (existsSync(keyOf(to)) && existsSync(keyOf(from)) && readFileSync(keyOf(to)).equals(readFileSync(keyOf(from)))) await execa("rm", ["-rf", join(to, "ssh-host-key")]);
    return;
  }
  await execa("rm", ["-rf", to]);
  await execa("cp", ["-a", "--reflink=auto", from, to]);
  const files = [join(to, "kernel-artifacts.json"), join(to, "manifest.json"), ...readdirSync(join(to, "stamps")).map((f) => join(to, "stamps", f))];
  for (const f of files) if (existsSync(f)) writeFileSync(f, readFileSync(f, "utf8").split(`${from}/`).join(`${to}/`));
  // A build of its own, with an SSH host key of its own.
  await execa("rm", ["-rf", join(to, "ssh-host-key")]);
}
