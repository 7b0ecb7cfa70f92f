/**
 * Start and stop the emulated board. U-Boot boots the flash by itself on every
 * reset: QEMU hands it a device tree (its own, dumped with the options it runs
 * with) whose /config node holds a bootcmd that boots the uImage in place in
 * flash and a bootdelay of 0, which this U-Boot reads before its environment.
 * So a reboot inside the guest boots whatever is in flash now, without kiln
 * typing anything, and without the stock two-second countdown and the search
 * through USB, SCSI, virtio, NVMe and DHCP that used to end in a boot script
 * fetched over QEMU's TFTP (a boot's U-Boot part took 3.6-5.5 s and 1.8-2.5 s
 * of host CPU that way; 1.1-2.3 s and 0.7-1.0 s now, measured beside CI runs).
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Handlebars from "handlebars";
import type { Board } from "../board/schema.js";
import { InputError, KilnError } from "../errors.js";
import { requireTool, run, spawnDetached, type StageLog } from "../exec.js";
import { tempSibling } from "../fsutil.js";
import { dumpQemuDtb } from "../image/qemu-dtb.js";
import { clearRuntime, flashImage, freeLoopbackPort, type InstancePaths, isAlive, readInstance, writeBank, writeInstance } from "./instance.js";

export type QemuBoard = Board & { qemu: NonNullable<Board["qemu"]> };

export function requireQemuBoard(board: Board): QemuBoard {
  if (!board.qemu) throw new InputError(`board ${board.name} is not an emulated board`, "use a board with a qemu: section, e.g. qemu-virt");
  return board as QemuBoard;
}

/** U-Boot commands that boot the uImage from flash (NOTES: fdt_high/initrd_high must be deleted, never saveenv). */
export function bootCommands(board: QemuBoard): string[] {
  const bootargs = Handlebars.compile(board.qemu.bootargs, { noEscape: true })({ console: "ttyAMA0" });
  return [
    "echo kiln: booting the image in flash",
    // Deleting both (or a limit) makes U-Boot copy the DTB and initrd to RAM instead of fixing them up inside flash.
    ...(board.qemu.bootLimit !== undefined
      ? [`setenv fdt_high 0x${board.qemu.bootLimit.toString(16)}`, `setenv initrd_high 0x${board.qemu.bootLimit.toString(16)}`]
      : ["setenv fdt_high", "setenv initrd_high"]),
    `setenv bootargs "${bootargs}"`,
    `bootm 0x${board.qemu.imageAddress.toString(16)}`,
    "echo kiln: bootm returned",
  ];
}

/**
 * The device tree QEMU gives U-Boot: the machine's own (as the image's DTB part
 * is), with /config bootcmd and bootdelay, which U-Boot's autoboot takes over
 * its default environment (the environment in flash is never valid here: it
 * would sit where the uImage starts).
 */
export async function prepareUBootDtb(board: QemuBoard, paths: InstancePaths, log: StageLog): Promise<string> {
  // Here, not only in dumpQemuDtb: a dump kept from an earlier start skips that one's check.
  await requireTool("fdtput", "device-tree-compiler", "it writes U-Boot's boot command into the machine's device tree");
  const machine = await dumpQemuDtb(board.arch, { machine: board.qemu.machine, memory: board.qemu.memory, cpus: board.qemu.cpus }, join(paths.dir, "machine.dtb"), log);
  const tmp = tempSibling(paths.ubootDtb);
  try {
    await copyFile(machine, tmp);
    await run("fdtput", ["-p", "-t", "i", tmp, "/config", "bootdelay", "0"], { log, what: "fdtput /config bootdelay" });
    await run("fdtput", ["-t", "s", tmp, "/config", "bootcmd", bootCommands(board).join("; ")], { log, what: "fdtput /config bootcmd" });
    await rename(tmp, paths.ubootDtb);
  } finally {
    await rm(tmp, { force: true });
  }
  return paths.ubootDtb;
}

export function qemuArgs(board: QemuBoard, paths: InstancePaths, sshPort: number): string[] {
  return [
    // TCG keeps translated code across a guest reset, and every guest write to a page that held
    // some takes a slow path until it is thrown away: with the default cache (up to 1 GiB) a reboot
    // after a busy boot copied the root into its tmpfs 2-7x slower (7 s cold, 14-56 s after).
    // 256 MB is flushed often enough to keep reboots at cold speed, and large enough that
    // steady work (kiln check) is as fast as with the default; 32 MB made it 50% slower.
    "-accel", "tcg,tb-size=256",
    "-M", board.qemu.machine,
    "-m", board.qemu.memory,
    "-smp", String(board.qemu.cpus),
    "-display", "none",
    "-monitor", "none",
    "-drive", `if=pflash,format=raw,file=${paths.flash0}`,
    "-drive", `if=pflash,format=raw,file=${paths.flash1}`,
    // U-Boot's device tree (prepareUBootDtb): Linux gets the one inside the image.
    "-dtb", paths.ubootDtb,
    "-netdev", `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
    "-device", "virtio-net-device,netdev=n0",
    // A watchdog the virt machine can have (the AX3's Orion watchdog is not emulated): it resets the machine.
    "-device", "i6300esb",
    "-action", "watchdog=reset",
    ...(existsSync(paths.dataDisk) ? ["-drive", `if=none,id=data,format=raw,file=${paths.dataDisk}`, "-device", "virtio-blk-device,drive=data"] : []),
    "-chardev", `socket,id=con0,path=${paths.consoleSocket},server=on,wait=off,logfile=${paths.console}`,
    "-serial", "chardev:con0",
    "-pidfile", paths.pidFile,
  ];
}

export async function prepareFlash(board: QemuBoard, paths: InstancePaths, image: string | undefined, log: StageLog): Promise<void> {
  // Before anything is written: the instance's flash stays as it was.
  if (image && !existsSync(image)) {
    const example = `out/${board.name}/${board.qemu.image?.output ?? board.image?.output ?? "uImage"}`;
    throw new InputError(`image ${image} does not exist`, `build it with: kiln build --board ${board.name} (it writes ${example})`);
  }
  await mkdir(paths.dir, { recursive: true });
  if (!existsSync(board.qemu.uboot)) {
    throw new InputError(`${board.qemu.uboot} does not exist`, `install it with: apt-get install ${board.qemu.ubootPackage}`);
  }
  // U-Boot is rewritten at every start: the bank is the boot loader's, never the guest's.
  await writeBank(paths.flash0, await readFile(board.qemu.uboot));
  if (image) await flashImage(paths, await readFile(image));
  else if (!existsSync(paths.flash1)) {
    const example = `out/${board.name}/${board.qemu.image?.output ?? board.image?.output ?? "uImage"}`;
    throw new InputError(`instance flash ${paths.flash1} is empty`, `pass --image with a uImage (e.g. ${example}) to flash it first`);
  }
  await prepareUBootDtb(board, paths, log);
}

export interface Started {
  pid: number;
  sshPort: number;
}

/** Start QEMU detached (it outlives this process once the board is up); the caller kills it on failure. */
export async function startQemu(board: QemuBoard, paths: InstancePaths, log: StageLog, instance: string): Promise<Started> {
  const existing = await readInstance(paths);
  if (existing && isAlive(existing.pid)) {
    throw new KilnError(`instance "${instance}" is already running (pid ${existing.pid}, ssh on 127.0.0.1:${existing.sshPort})`, {
      hint: `stop it first: kiln qemu stop --instance ${instance}`,
    });
  }
  await clearRuntime(paths);
  const qemu = `qemu-system-${board.arch}`;
  await requireTool(qemu, "qemu-system-arm", "it emulates the board");
  const sshPort = await freeLoopbackPort();
  await writeFile(paths.console, "");
  const args = qemuArgs(board, paths, sshPort);
  log.write(`$ ${qemu} ${args.join(" ")}`);
  const child = spawnDetached(qemu, args);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
    log.write(d.toString());
  });
  const early = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => resolve(null), 1500);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code ?? 1);
    });
  });
  if (early !== null) throw new KilnError(`${qemu} exited at once (code ${early})`, { tail: stderr.trim().split("\n").slice(-10) });
  child.stderr?.removeAllListeners("data");
  child.stderr?.destroy();
  child.unref();
  const pid = child.pid as number;
  await writeInstance(paths, { name: instance, board: board.name, pid, sshPort, startedAt: new Date().toISOString() });
  return { pid, sshPort };
}

export async function stopQemu(paths: InstancePaths): Promise<boolean> {
  const info = await readInstance(paths);
  let pid = info?.pid;
  if (!pid && existsSync(paths.pidFile)) pid = Number((await readFile(paths.pidFile, "utf8")).trim());
  if (!pid || !isAlive(pid)) {
    await clearRuntime(paths);
    return false;
  }
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) process.kill(pid, "SIGKILL");
  await clearRuntime(paths);
  return true;
}

/** Wait until the console shows `ready`, failing fast on what a boot failure looks like. */
export async function waitForConsole(
  file: string,
  ready: RegExp,
  opts: { timeoutMs: number; from?: number; signal?: AbortSignal; alive?: () => boolean },
): Promise<{ text: string; offset: number }> {
  const failures: [RegExp, string][] = [
    [/Kernel panic - not syncing[^\n]*/, "the kernel panicked"],
    [/Bad (?:Data|Header) CRC|Wrong Image Format|ERROR: can't get kernel image/, "U-Boot refused the image in flash"],
    [/kiln: bootm returned/, "U-Boot could not boot the image"],
    [/FDT and ATAGS support not compiled in/, "the image has no device tree part, and this U-Boot cannot pass ATAGS"],
    [/resetting \.\.\.[\s\S]*resetting \.\.\./, "U-Boot keeps resetting"],
    [/kiln: init failed[^\n]*/, "the root filesystem's /init failed"],
  ];
  const deadline = Date.now() + opts.timeoutMs;
  const from = opts.from ?? 0;
  for (;;) {
    const text = existsSync(file) ? (await readFile(file, "utf8")).slice(from) : "";
    const m = ready.exec(text);
    if (m) return { text, offset: from + m.index + m[0].length };
    for (const [re, what] of failures) {
      const f = re.exec(text);
      if (f) throw new KilnError(`boot failed: ${what}: ${f[0].trim()}`, { tail: lastLines(text), hint: `full console log: ${file}` });
    }
    if (opts.alive && !opts.alive()) throw new KilnError("QEMU exited during boot", { tail: lastLines(text), hint: `full console log: ${file}` });
    if (opts.signal?.aborted) throw new KilnError("interrupted while waiting for the board to boot", { exitCode: 130 });
    if (Date.now() > deadline) {
      throw new KilnError(`the board did not boot within ${Math.round(opts.timeoutMs / 1000)} s`, { tail: lastLines(text), hint: `full console log: ${file}` });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function lastLines(text: string, n = 15): string[] {
  return text.replace(/\r/g, "").trimEnd().split("\n").slice(-n);
}

