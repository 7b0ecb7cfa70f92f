/**
 * Until the rootfs stage exists for a board, the image carries an initramfs
 * with just the kernel's modules, made reproducibly (sorted names, one mtime).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { checkStamp, sha256Text, writeStamp } from "../cache.js";
import { packCpio } from "../cpio.js";
import { run, type StageLog } from "../exec.js";

/** Path, size and mtime of every file under dir: cheap, and changes whenever make reinstalls a module. */
export async function dirFingerprint(dir: string | undefined): Promise<string> {
  if (!dir || !existsSync(dir)) return "none";
  const lines: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await stat(p);
        lines.push(`${relative(dir, p)} ${st.size} ${Math.floor(st.mtimeMs)}`);
      }
    }
  };
  await walk(dir);
  return sha256Text(lines.join("\n"));
}

/** The modules-only ramdisk, rebuilt only when the modules changed (a no-op build runs no tool). */
export async function modulesRamdiskCached(outDir: string, modulesDir: string | undefined, out: string, epoch: number, log: StageLog): Promise<string> {
  const inputs = { modules: await dirFingerprint(modulesDir), epoch: String(epoch) };
  if ((await checkStamp(outDir, "modules-ramdisk", inputs)).fresh) return out;
  await buildModulesRamdisk(modulesDir, out, epoch, log);
  await writeStamp(outDir, "modules-ramdisk", inputs, [out]);
  return out;
}

export async function buildModulesRamdisk(modulesDir: string | undefined, out: string, epoch: number, log: StageLog): Promise<string> {
  const root = await mkdtemp(join(dirname(out), ".ramdisk-"));
  try {
    for (const d of ["dev", "proc", "sys", "lib/modules"]) await mkdir(join(root, d), { recursive: true });
    if (modulesDir && existsSync(modulesDir)) {
      await run("cp", ["-a", modulesDir, join(root, "lib", "modules")], { log, what: "staging modules" });
    }
    await packCpio(root, out, epoch, log, { rootOwned: true });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return out;
}
