/**
 * The emulated qemu-virt board as the QEMU test files share it: one build under
 * ~/.cache/kiln/e2e (made by whichever file needs it first, see shared-dir.ts),
 * a board per file booted from that image, and the file's own state directory.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { parseUImage } from "../../src/image/uimage.js";
import { cacheDir } from "../../src/paths.js";
import { type KilnRun, kiln, testWork } from "./cli.js";
import { e2eKey } from "./e2e-key.js";
import { releaseBoardSlot, withBoardSlot } from "./board-slots.js";
import { seedBuildDir } from "./seed-build.js";
import { withSharedDir } from "./shared-dir.js";

export const e2e = join(cacheDir(), "e2e");
export const virtOut = join(e2e, "qemu-virt");
export const virtImage = join(virtOut, "uImage.qemu-virt");
/** kiln's cache of Debian packages for qemu-virt's roots. */
export const debCache = join(cacheDir(), "debs", "bookworm-armhf");
/**
 * A turn on that cache, for a root filesystem build that may download into it:
 * rootfs.test.ts counts the files there across a build of its own.
 */
export const withDebCache = <T>(fn: () => Promise<T>): Promise<T> => withSharedDir(debCache, fn);
/** qemu-virt with IPC_NS off: boots, and fails the container proof. */
export const noIpcNsOut = join(e2e, "qemu-virt-no-ipc-ns");

export const stateEnv = () => ({ KILN_STATE_DIR: join(testWork(), "state") });
export const consoleLog = (instance: string) => readFileSync(join(testWork(), "state", "qemu", instance, "console.log"), "utf8");
export const flashFile = (instance: string) => join(testWork(), "state", "qemu", instance, "flash1.img");

/** `kiln build` of qemu-virt into outDir, waiting for any other test file working there. */
export async function buildVirt(outDir: string, ...extra: string[]): Promise<KilnRun> {
  const r = await withSharedDir(outDir, () => kiln(["build", "--board", "qemu-virt", "--out", outDir, "--authorized-key", `${e2eKey}.pub`, "--json", ...extra]));
  if (r.exitCode !== 0) throw new Error(`kiln build --out ${outDir} failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  return r;
}

/** The IPC_NS-less build: a copy of qemu-virt's build directory and one changed option (an incremental kernel build). */
export async function buildNoIpcNs(): Promise<string> {
  const frag = join(e2e, "no-ipc-ns.config");
  writeFileSync(frag, "# CONFIG_IPC_NS is not set\n");
  await withSharedDir(noIpcNsOut, async () => {
    await withSharedDir(virtOut, () => seedBuildDir(virtOut, noIpcNsOut));
    const r = await kiln(["build", "--board", "qemu-virt", "--out", noIpcNsOut, "--authorized-key", `${e2eKey}.pub`, "--fragment", frag, "--allow-missing", "--json"]);
    if (r.exitCode !== 0) throw new Error(`kiln build --out ${noIpcNsOut} failed (${r.exitCode}):\n${r.stderr.slice(-3000)}`);
  });
  return noIpcNsOut;
}

/** Boot the board in this process's board slot (board-slots.ts); stopVirt gives it back. */
export async function startVirt(instance: string, img: string, timeoutSeconds = 400): Promise<{ port: number; bootSeconds: number }> {
  return withBoardSlot(async () => {
    const r = await kiln(["qemu", "--board", "qemu-virt", "--image", img, "--instance", instance, "--timeout", String(timeoutSeconds), "--json"], { env: stateEnv() });
    if (r.exitCode !== 0) throw new Error(`kiln qemu failed (${r.exitCode}):\n${r.stderr}`);
    const j = JSON.parse(r.stdout) as { ssh: { port: number }; bootSeconds: number };
    return { port: j.ssh.port, bootSeconds: j.bootSeconds };
  });
}

export async function stopVirt(instance: string): Promise<KilnRun> {
  try {
    return await kiln(["qemu", "stop", "--instance", instance], { env: stateEnv() });
  } finally {
    releaseBoardSlot();
  }
}

/**
 * OpenSSH to the board, with the e2e key and no host key bookkeeping (the tests watch the board, not kiln).
 * As with ssh itself, the words are joined into one command line for the board's shell: give a
 * command with pipes or redirections as one string ("sh", "-c", "a; b" would run `sh -c a`).
 */
export async function sshTo(port: number, ...cmd: string[]) {
  return execa("ssh", ["-i", e2eKey, "-p", String(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@127.0.0.1", ...cmd], { reject: false });
}

/**
 * The image's parts packed again under a new name (the console then shows which
 * image U-Boot booted), optionally with the ramdisk part changed.
 */
export async function repack(image: string, name: string, ramdisk?: (original: Buffer) => Buffer): Promise<string> {
  const bytes = readFileSync(image);
  const h = parseUImage(bytes);
  const files = h.parts.map((p, i) => {
    const f = join(testWork(), `${name}.part${i}`);
    const part = bytes.subarray(p.offset, p.offset + p.size);
    writeFileSync(f, i === 1 && ramdisk ? ramdisk(part) : part);
    return f;
  });
  const file = join(testWork(), `${name}.uImage`);
  await execa("mkimage", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", `0x${h.load.toString(16)}`, "-e", `0x${h.entry.toString(16)}`, "-n", `KILNVIRT ${name}`, "-d", files.join(":"), file]);
  return file;
}
