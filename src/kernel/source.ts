/**
 * A kernel tree to configure and build: a directory used in place, or a tarball
 * unpacked once into the cache (keyed by the tarball's path, size and mtime, so
 * a new point release of linux-source-6.1 lands in a new directory).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { InputError } from "../errors.js";
import { run, type StageLog } from "../exec.js";
import { cacheDir } from "../paths.js";

export interface KernelSource {
  /** Root of the tree (holds Makefile, Kconfig, arch/). */
  dir: string;
  /** VERSION.PATCHLEVEL.SUBLEVEL plus EXTRAVERSION, read from the top Makefile. */
  version: string;
  /** Where the tree came from, for the manifest. */
  origin: string;
}

const TARBALL = /\.(tar|tar\.(xz|gz|bz2|zst)|tgz|txz)$/;

export async function prepareKernelSource(
  spec: string,
  opts: { arch: string; log: StageLog; debianPackage?: string },
): Promise<KernelSource> {
  const path = resolve(spec);
  const st = await stat(path).catch(() => undefined);
  if (!st) {
    throw new InputError(
      `kernel source ${path} does not exist`,
      opts.debianPackage && path.startsWith("/usr/src/")
        ? `install it with: apt-get install ${opts.debianPackage}`
        : "pass --kernel-src with an unpacked kernel tree or a kernel tarball",
    );
  }
  let dir: string;
  if (st.isDirectory()) {
    dir = path;
  } else if (TARBALL.test(path)) {
    dir = await unpackOnce(path, st.size, st.mtimeMs, opts.log);
  } else {
    throw new InputError(`kernel source ${path} is neither a directory nor a tarball`, "pass a kernel tree or a .tar.xz/.tar.gz/.tar.bz2");
  }
  const version = await assertKernelTree(dir, opts.arch);
  return { dir, version, origin: path };
}

async function unpackOnce(tarball: string, size: number, mtimeMs: number, log: StageLog): Promise<string> {
  const key = createHash("sha256").update(`${tarball}\0${size}\0${Math.floor(mtimeMs)}`).digest("hex").slice(0, 12);
  const name = basename(tarball).replace(TARBALL, "");
  const root = join(cacheDir(), "src");
  const final = join(root, `${name}-${key}`);
  if (existsSync(join(final, ".kiln-unpacked"))) return treeRootIn(final);
  await mkdir(root, { recursive: true });
  const tmp = join(root, `.unpack-${name}-${key}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    await run("tar", ["-xf", tarball, "-C", tmp], { log, what: `unpacking ${tarball}` });
    await writeFile(join(tmp, ".kiln-unpacked"), `${tarball}\n`);
    await rm(final, { recursive: true, force: true });
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return treeRootIn(final);
}

/** Tarballs hold the tree either at the top or in one directory (linux-source-6.1/). */
async function treeRootIn(dir: string): Promise<string> {
  if (existsSync(join(dir, "Kconfig"))) return dir;
  const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory());
  if (entries.length === 1 && entries[0]) return join(dir, entries[0].name);
  return dir;
}

export async function assertKernelTree(dir: string, arch: string): Promise<string> {
  const missing = ["Makefile", "Kconfig", join("arch", arch, "Kconfig")].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new InputError(
      `${dir} is not a kernel source tree for ARCH=${arch}: missing ${missing.join(", ")}`,
      "pass --kernel-src with the top of a Linux tree (the directory holding Makefile, Kconfig and arch/)",
    );
  }
  return readKernelVersion(dir);
}

export async function readKernelVersion(dir: string): Promise<string> {
  const makefile = await readFile(join(dir, "Makefile"), "utf8");
  const field = (name: string): string => new RegExp(`^${name}\\s*=[ \\t]*(\\S*)`, "m").exec(makefile)?.[1] ?? "";
  const [version, patch, sub, extra] = [field("VERSION"), field("PATCHLEVEL"), field("SUBLEVEL"), field("EXTRAVERSION")];
  if (!version || !patch) {
    throw new InputError(`${dir}/Makefile has no VERSION/PATCHLEVEL: not a kernel tree`);
  }
  return `${version}.${patch}${sub ? `.${sub}` : ""}${extra}`;
}

