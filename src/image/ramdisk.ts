/**
 * Until the rootfs stage exists for a board, the image carries an initramfs
 * with just the kernel's modules, made reproducibly (sorted names, one mtime).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { requireTool, run, type StageLog } from "../exec.js";

export async function buildModulesRamdisk(modulesDir: string | undefined, out: string, epoch: number, log: StageLog): Promise<string> {
  await requireTool("cpio", "cpio", "it packs the initramfs");
  const root = await mkdtemp(join(dirname(out), ".ramdisk-"));
  try {
    for (const d of ["dev", "proc", "sys", "lib/modules"]) await mkdir(join(root, d), { recursive: true });
    if (modulesDir && existsSync(modulesDir)) {
      await run("cp", ["-a", modulesDir, join(root, "lib", "modules")], { log, what: "staging modules" });
    }
    const stamp = new Date(epoch * 1000).toISOString();
    await run("find", [root, "-exec", "touch", "-h", "-d", stamp, "{}", "+"], { log, what: "fixing mtimes" });
    await run(
      "sh",
      ["-c", `cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible -R 0:0 > "$2"`, "sh", root, out],
      { log, what: "cpio" },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return out;
}
