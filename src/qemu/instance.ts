/**
 * An emulated board: qemu-system-arm -M virt with Debian's U-Boot in the first
 * NOR bank and the uImage in the second, as the AX3 keeps its boot loader and
 * kernel image in NOR flash. Each instance keeps its flash files, so what a
 * flashcfg writes survives a reboot, exactly as on the board.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { open, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { InputError } from "../errors.js";
import { writeFileAtomic } from "../fsutil.js";
import { stateDir } from "../paths.js";

export const BANK_SIZE = 64 * 1024 * 1024;
export const UBOOT_BIN = "/usr/lib/u-boot/qemu_arm/u-boot.bin";
/** Where the second bank appears in the guest's address space. */
export const IMAGE_ADDRESS = 0x04000000;

export interface InstancePaths {
  dir: string;
  flash0: string;
  flash1: string;
  /** The device tree QEMU hands U-Boot (machine.ts). */
  ubootDtb: string;
  console: string;
  consoleSocket: string;
  pidFile: string;
  info: string;
  /** The instance's data disk (virtio), attached whenever it exists. */
  dataDisk: string;
}

export interface InstanceInfo {
  name: string;
  board: string;
  pid: number;
  sshPort: number;
  startedAt: string;
}

/**
 * A UNIX socket path must fit sun_path (108 bytes with its NUL). A state
 * directory deep enough to exceed it gets the socket under /tmp instead,
 * named by the hash of where it would have been (stable for the instance).
 */
export function socketPath(wanted: string): string {
  if (Buffer.byteLength(wanted) < 100) return wanted;
  return join("/tmp", `kiln-${createHash("sha256").update(wanted).digest("hex").slice(0, 16)}.sock`);
}

export function instancePaths(name: string): InstancePaths {
  if (!/^[\w.-]+$/.test(name)) throw new InputError(`instance name "${name}" may only hold letters, digits, ".", "_" and "-"`);
  const dir = join(stateDir(), "qemu", name);
  return {
    dir,
    flash0: join(dir, "flash0.img"),
    flash1: join(dir, "flash1.img"),
    ubootDtb: join(dir, "u-boot.dtb"),
    console: join(dir, "console.log"),
    consoleSocket: socketPath(join(dir, "console.sock")),
    pidFile: join(dir, "qemu.pid"),
    info: join(dir, "instance.json"),
    dataDisk: join(dir, "data.img"),
  };
}

/** A bank file of exactly BANK_SIZE: the payload at offset 0, erased flash (0xff) after it. */
export async function writeBank(file: string, payload: Buffer): Promise<void> {
  if (payload.length > BANK_SIZE) {
    throw new InputError(`${payload.length} bytes do not fit a ${BANK_SIZE}-byte flash bank`, "make the image smaller");
  }
  const bank = Buffer.alloc(BANK_SIZE, 0xff);
  payload.copy(bank, 0);
  await writeFileAtomic(file, bank);
}

/** Put an image into flash1 as `flashcfg` would: only the image's own bytes change. */
export async function flashImage(paths: InstancePaths, image: Buffer): Promise<void> {
  if (!existsSync(paths.flash1)) {
    await writeBank(paths.flash1, image);
    return;
  }
  if ((await stat(paths.flash1)).size !== BANK_SIZE) throw new InputError(`${paths.flash1} is not a ${BANK_SIZE}-byte flash bank`);
  const bank = Buffer.alloc(BANK_SIZE, 0xff);
  image.copy(bank, 0);
  const fh = await open(paths.flash1, "r+");
  try {
    await fh.write(bank, 0, BANK_SIZE, 0);
  } finally {
    await fh.close();
  }
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function readInstance(paths: InstancePaths): Promise<InstanceInfo | undefined> {
  try {
    return JSON.parse(await readFile(paths.info, "utf8")) as InstanceInfo;
  } catch {
    return undefined;
  }
}

export async function writeInstance(paths: InstancePaths, info: InstanceInfo): Promise<void> {
  await writeFileAtomic(paths.info, `${JSON.stringify(info, null, 2)}\n`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function clearRuntime(paths: InstancePaths): Promise<void> {
  await Promise.all([paths.pidFile, paths.info, paths.consoleSocket].map((f) => rm(f, { force: true })));
}
