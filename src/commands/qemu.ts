import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { loadBoard } from "../board/load.js";
import { KilnError } from "../errors.js";
import { StageLog } from "../exec.js";
import { ensureDataDisk } from "../qemu/data-disk.js";
import { instancePaths, isAlive, readInstance } from "../qemu/instance.js";
import { prepareFlash, type QemuBoard, requireQemuBoard, startQemu, stopQemu, waitForConsole } from "../qemu/machine.js";
import { sshBanner } from "../qemu/ssh-wait.js";

export interface QemuStartOptions {
  board: string;
  image?: string;
  instance?: string;
  wait: "ssh" | "console" | "none";
  ready: string;
  timeout: string;
  console: boolean;
  dataDisk: boolean;
  json: boolean;
}

export interface Booted {
  instance: string;
  board: string;
  pid: number;
  sshPort: number;
  console: string;
  bootSeconds: number;
  /** The instance's data disk, when it has one. */
  dataDisk: string | undefined;
}

/**
 * Write `image` into the instance's flash (when given), start QEMU and wait for
 * `wait`. Until the board is up, this process owns QEMU: an interrupted or
 * failed start leaves nothing running.
 */
export async function bootQemu(
  board: QemuBoard,
  name: string,
  image: string | undefined,
  opts: { wait: "ssh" | "console" | "none"; ready: RegExp; timeoutMs: number; dataDisk?: boolean },
): Promise<Booted> {
  const paths = instancePaths(name);
  const log = new StageLog(join(paths.dir, "qemu.log")).reset();
  await prepareFlash(board, paths, image, log);
  if (opts.dataDisk) await ensureDataDisk(board, paths, log);
  const started = await startQemu(board, paths, log, name);
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const t0 = Date.now();
  try {
    if (opts.wait === "console") {
      await waitForConsole(paths.console, opts.ready, { timeoutMs: opts.timeoutMs, signal: ac.signal, alive: () => isAlive(started.pid) });
    } else if (opts.wait === "ssh") {
      await waitForSsh(started.sshPort, paths.console, { timeoutMs: opts.timeoutMs, signal: ac.signal, alive: () => isAlive(started.pid) });
    }
  } catch (err) {
    await stopQemu(paths);
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return { instance: name, board: board.name, pid: started.pid, sshPort: started.sshPort, console: paths.console, bootSeconds: Math.round((Date.now() - t0) / 100) / 10, dataDisk: existsSync(paths.dataDisk) ? paths.dataDisk : undefined };
}

export async function qemuStartCommand(opts: QemuStartOptions): Promise<void> {
  const board = requireQemuBoard(await loadBoard(opts.board));
  const name = opts.instance ?? board.name;
  const b = await bootQemu(board, name, opts.image, { wait: opts.wait, ready: new RegExp(opts.ready), timeoutMs: Number(opts.timeout) * 1000, dataDisk: opts.dataDisk });
  const info = { instance: name, board: board.name, pid: b.pid, ssh: { host: "127.0.0.1", port: b.sshPort }, console: b.console, bootSeconds: b.bootSeconds, dataDisk: b.dataDisk ?? null };
  if (opts.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  else {
    process.stdout.write(
      `${board.name} "${name}" is up (${opts.wait === "none" ? "not waited for" : `${b.bootSeconds.toFixed(1)} s`}): ssh -p ${b.sshPort} root@127.0.0.1\n` +
        `console log: ${b.console}\n${b.dataDisk ? `data disk: ${b.dataDisk} (label ${board.rootfs?.data?.label ?? "?"})\n` : ""}stop it with: kiln qemu stop --instance ${name}\n`,
    );
  }
  if (opts.console) await attachConsole(instancePaths(name).consoleSocket);
}

async function waitForSsh(port: number, consoleFile: string, opts: { timeoutMs: number; signal: AbortSignal; alive: () => boolean }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  // The console watcher turns a panic or a refused image into an error at once.
  // It is stopped once SSH answers: left running, it would keep kiln alive until the timeout.
  const stopWatcher = new AbortController();
  const watcher = waitForConsole(consoleFile, /a^/, { timeoutMs: opts.timeoutMs, signal: AbortSignal.any([opts.signal, stopWatcher.signal]), alive: opts.alive });
  let failed: unknown;
  watcher.catch((e: unknown) => {
    failed = e;
  });
  try {
    while (Date.now() < deadline) {
      if (failed) throw failed;
      if (opts.signal.aborted) throw new KilnError("interrupted while waiting for the board to boot", { exitCode: 130 });
      if (await sshBanner(port, "127.0.0.1", 2000)) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    if (failed) throw failed;
    throw new KilnError(`no SSH server answered on 127.0.0.1:${port} within ${Math.round(opts.timeoutMs / 1000)} s`, { hint: `see the console log: ${consoleFile}` });
  } finally {
    stopWatcher.abort();
  }
}

export async function qemuStopCommand(opts: { board?: string; instance?: string }): Promise<void> {
  const name = opts.instance ?? opts.board ?? "qemu-virt";
  const stopped = await stopQemu(instancePaths(name));
  process.stdout.write(stopped ? `stopped "${name}"\n` : `"${name}" was not running\n`);
}

export async function qemuConsoleCommand(opts: { instance?: string; board?: string }): Promise<void> {
  const name = opts.instance ?? opts.board ?? "qemu-virt";
  const paths = instancePaths(name);
  const info = await readInstance(paths);
  if (!info || !isAlive(info.pid)) throw new KilnError(`instance "${name}" is not running`, { hint: "start it with: kiln qemu --board qemu-virt" });
  await attachConsole(paths.consoleSocket);
}

/** Attach the terminal to the serial console; Ctrl-] detaches, as telnet does. */
async function attachConsole(socketPath: string): Promise<void> {
  process.stderr.write("serial console attached; Ctrl-] detaches\n");
  const sock = connect(socketPath);
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  await new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      if (d.includes(0x1d)) {
        sock.end();
        return;
      }
      sock.write(d);
    };
    stdin.on("data", onData);
    sock.pipe(process.stdout);
    sock.on("close", () => {
      stdin.off("data", onData);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      resolve();
    });
  });
}
