/**
 * Where the bytes are: the largest packages (files they own that are still in
 * the staged root) and directories, and whether the ramdisk fits the board's
 * RAM (the kernel unpacks it into a tmpfs of half the RAM) and flash partition.
 */
import { existsSync } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { InstalledPackage } from "./dpkg.js";

export interface SizeEntry {
  name: string;
  bytes: number;
}

export interface TreeSizes {
  total: number;
  files: number;
  dirs: SizeEntry[];
  /** path (relative, no leading slash) -> size, regular files and symlinks */
  fileSizes: Map<string, number>;
}

/** Apparent sizes, summed per directory down to `depth` levels. */
export async function treeSizes(root: string, depth = 3): Promise<TreeSizes> {
  const fileSizes = new Map<string, number>();
  const dirTotals = new Map<string, number>();
  let total = 0;
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        await walk(r);
        continue;
      }
      const st = await lstat(join(root, r));
      fileSizes.set(r, st.size);
      total += st.size;
      const parts = r.split("/");
      for (let i = 1; i < parts.length && i <= depth; i++) {
        const d = parts.slice(0, i).join("/");
        dirTotals.set(d, (dirTotals.get(d) ?? 0) + st.size);
      }
    }
  };
  await walk("");
  const dirs = [...dirTotals].map(([name, bytes]) => ({ name: `/${name}`, bytes })).sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  return { total, files: fileSizes.size, dirs, fileSizes };
}

/** Bytes each package still has in the root, from dpkg's file lists (merged /usr aware). */
export async function packageSizes(root: string, pkgs: readonly InstalledPackage[], files: Map<string, number>): Promise<SizeEntry[]> {
  const out: SizeEntry[] = [];
  for (const p of pkgs) {
    let list = join(root, "var", "lib", "dpkg", "info", `${p.name}:${p.arch}.list`);
    if (!existsSync(list)) list = join(root, "var", "lib", "dpkg", "info", `${p.name}.list`);
    const text = await readFile(list, "utf8").catch(() => "");
    let bytes = 0;
    const seen = new Set<string>();
    for (const line of text.split("\n")) {
      let rel = line.replace(/^\/+/, "");
      if (!rel) continue;
      // /bin, /lib, /sbin are links into /usr on a merged-/usr root.
      if (!files.has(rel) && /^(bin|sbin|lib)\//.test(rel)) rel = `usr/${rel}`;
      if (seen.has(rel)) continue;
      seen.add(rel);
      bytes += files.get(rel) ?? 0;
    }
    out.push({ name: p.name, bytes });
  }
  return out.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
}

export interface Budget {
  /** unpacked root vs the tmpfs the kernel unpacks it into (half the RAM) */
  ram: { limit: number | null; used: number; ok: boolean; note: string };
  /** compressed ramdisk + kernel part vs the flash partition */
  flash: { limit: number | null; ramdisk: number; kernel: number | null; image: number | null; ok: boolean; note: string };
}

export interface SizeReport {
  board: string;
  profile: string;
  unpacked: number;
  files: number;
  cpio: number;
  compressed: number;
  compression: string;
  packages: SizeEntry[];
  dirs: SizeEntry[];
  budget: Budget;
  /** packages of this profile that `minimal` leaves out, with their size */
  cut: SizeEntry[];
}

/**
 * The root lives in RAM: /usr where the kernel unpacked the initramfs, the rest
 * copied by /init into the tmpfs that becomes /; each is capped at half the RAM.
 * kiln lets the root take at most 80% of that cap (the rest is what containers
 * and logs write). Nothing is held twice: /init binds /usr instead of copying it.
 */
export function ramBudget(memory: number | undefined, unpacked: number): Budget["ram"] & { headroom: number | null } {
  if (memory === undefined) return { limit: null, used: unpacked, ok: true, headroom: null, note: "board RAM unknown (rootfs.memory): unpacked size not checked" };
  const cap = Math.floor(memory / 2);
  const limit = Math.floor(cap * 0.8);
  const ok = unpacked <= limit;
  return {
    limit,
    used: unpacked,
    ok,
    headroom: cap - unpacked,
    note:
      `the root runs from RAM, capped at half of it (${mib(cap)}); kiln keeps it under 80% of that (${mib(limit)}): ${mib(unpacked)} ${ok ? "fits" : "does NOT fit"}, ` +
      `${mib(cap - unpacked)} of headroom; it is held once (/usr stays where the kernel unpacked it)`,
  };
}

export function flashBudget(limit: number | undefined, ramdisk: number, kernel: number | undefined, overhead: (parts: number[]) => number): Budget["flash"] {
  if (limit === undefined) {
    return { limit: null, ramdisk, kernel: kernel ?? null, image: null, ok: true, note: "flash partition size unknown (board.flash.maxImageSize not set): not checked" };
  }
  if (kernel === undefined) {
    const ok = ramdisk <= limit;
    return { limit, ramdisk, kernel: null, image: null, ok, note: `no kernel built yet: the ramdisk alone is ${mib(ramdisk)} of ${mib(limit)}${ok ? "" : ": does NOT fit"}` };
  }
  const image = overhead([kernel, ramdisk]);
  const ok = image <= limit;
  return { limit, ramdisk, kernel, image, ok, note: `kernel ${mib(kernel)} + ramdisk ${mib(ramdisk)} = ${mib(image)} of ${mib(limit)}${ok ? "" : `: ${mib(image - limit)} too much`}` };
}

export function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatReport(r: SizeReport, top = 15): string {
  const line = (e: SizeEntry) => `  ${mib(e.bytes).padStart(10)}  ${e.name}`;
  return [
    `kiln rootfs size report: board ${r.board}, profile ${r.profile}`,
    "",
    `unpacked root:      ${mib(r.unpacked)} in ${r.files} files`,
    `cpio:               ${mib(r.cpio)}`,
    `${r.compression.padEnd(19)} ${mib(r.compressed)}`,
    "",
    `RAM:   ${r.budget.ram.note}`,
    `flash: ${r.budget.flash.note}`,
    "",
    `largest packages:`,
    ...r.packages.slice(0, top).map(line),
    "",
    `largest directories:`,
    ...r.dirs.slice(0, top).map(line),
    ...(r.cut.length
      ? ["", `--profile minimal leaves out ${mib(r.cut.reduce((a, c) => a + c.bytes, 0))} (these and what only they pull in):`, ...r.cut.map(line)]
      : []),
    "",
  ].join("\n");
}
