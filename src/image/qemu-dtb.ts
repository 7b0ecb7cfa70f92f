/**
 * QEMU describes its virt machine itself: the DTB that U-Boot hands to Linux
 * must be the one QEMU dumps with exactly the machine options it runs with.
 */
import { existsSync } from "node:fs";
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { requireTool, run, type StageLog } from "../exec.js";

export async function dumpQemuDtb(arch: string, opts: { machine: string; memory: string; cpus: number }, out: string, log: StageLog): Promise<string> {
  const qemu = `qemu-system-${arch}`;
  const binary = await requireTool(qemu, "qemu-system-arm", "the qemu board's device tree comes from QEMU's machine model");
  // The dump depends only on QEMU itself and the machine options: a no-op build
  // must not start QEMU (and dtc, fdtput) again for the same tree.
  const st = await stat(binary);
  const key = JSON.stringify({ binary, size: st.size, mtime: st.mtimeMs, ...opts });
  const keyFile = `${out}.key`;
  if (existsSync(out) && (await readFile(keyFile, "utf8").catch(() => "")) === key) return out;
  await rm(keyFile, { force: true });
  const raw = `${out}.raw`;
  await run(qemu, ["-M", `${opts.machine},dumpdtb=${raw}`, "-m", opts.memory, "-smp", String(opts.cpus), "-nographic", "-nodefaults"], { log, what: "qemu dumpdtb" });
  // QEMU pads its tree to 1 MiB; recompiling keeps every node and drops the padding.
  await requireTool("dtc", "device-tree-compiler", "it compacts the device tree");
  await run("dtc", ["-q", "-I", "dtb", "-O", "dtb", "-o", out, raw], { log, what: "dtc" });
  // QEMU puts fresh random seeds in /chosen at every dump. Baked into an image
  // they would be the same seed on every boot (no entropy at all), and they make
  // every build differ: both are removed.
  await requireTool("fdtput", "device-tree-compiler", "it edits the device tree");
  for (const prop of ["rng-seed", "kaslr-seed"]) {
    await run("fdtput", ["-d", out, "/chosen", prop], { log, what: `fdtput -d /chosen ${prop}` }).catch(() => undefined);
  }
  await writeFile(keyFile, key);
  return out;
}
