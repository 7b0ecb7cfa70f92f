/**
 * mmdebstrap runs the foreign root's maintainer scripts through qemu-user:
 * binfmt_misc must be mounted and qemu-arm enabled. kiln sets that up when it
 * can, and says exactly what is missing when it cannot.
 */
import { existsSync, readFileSync } from "node:fs";
import { KilnError, MissingToolError } from "../errors.js";
import { findOnPath, run, type StageLog } from "../exec.js";

const BINFMT = "/proc/sys/fs/binfmt_misc";

/** Debian arch -> the qemu-user binfmt entry that runs it. */
export function qemuEntry(debArch: string): string {
  const map: Record<string, string> = { armhf: "qemu-arm", armel: "qemu-arm", arm64: "qemu-aarch64" };
  const e = map[debArch];
  if (!e) throw new KilnError(`no qemu-user emulation known for ${debArch}`);
  return e;
}

export function binfmtEnabled(entry: string, dir = BINFMT): boolean {
  const file = `${dir}/${entry}`;
  if (!existsSync(file)) return false;
  return /^enabled$/m.test(readFileSync(file, "utf8"));
}

export async function ensureBinfmt(debArch: string, log: StageLog): Promise<string> {
  const entry = qemuEntry(debArch);
  if (binfmtEnabled(entry)) return `${entry} already enabled`;
  const cannot = (why: string, hint: string) =>
    new KilnError(`${debArch} binaries cannot run on this machine: ${why}`, {
      hint: `${hint}. mmdebstrap runs the ${debArch} root's package scripts through qemu-user and stops at once without it`,
      exitCode: 2,
    });
  if (!(await findOnPath("update-binfmts"))) throw new MissingToolError("update-binfmts", "binfmt-support qemu-user-static", `it registers qemu-user to run ${debArch} binaries`);
  if (!existsSync(`/usr/share/binfmts/${entry}`) && !existsSync(`/usr/lib/binfmt.d/${entry}.conf`)) {
    throw new MissingToolError(entry, "qemu-user-static", `it runs ${debArch} binaries during the build`);
  }
  if (!existsSync(`${BINFMT}/register`)) {
    if (process.getuid?.() !== 0) throw cannot(`${BINFMT} is not mounted and kiln is not root`, `as root: mount -t binfmt_misc binfmt_misc ${BINFMT} && update-binfmts --enable ${entry}`);
    try {
      await run("mount", ["-t", "binfmt_misc", "binfmt_misc", BINFMT], { log, what: "mounting binfmt_misc" });
    } catch {
      throw cannot(`${BINFMT} cannot be mounted (a container without that privilege?)`, `mount it on the host (mount -t binfmt_misc binfmt_misc ${BINFMT}) or run kiln where it can be`);
    }
  }
  try {
    await run("update-binfmts", ["--enable", entry], { log, what: `update-binfmts --enable ${entry}` });
  } catch {
    throw cannot(`update-binfmts --enable ${entry} failed`, `see the log; as root: update-binfmts --enable ${entry}`);
  }
  if (!binfmtEnabled(entry)) throw cannot(`${entry} is still not enabled after update-binfmts`, `check ${BINFMT}/${entry}`);
  log.write(`# binfmt: enabled ${entry}`);
  return `enabled ${entry}`;
}
