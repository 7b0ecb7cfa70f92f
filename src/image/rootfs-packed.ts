/**
 * The rootfs stage compresses its cpio with the very command the image stage
 * packs it with (it reports the size the image will have) and keeps the result
 * beside the cpio. The image stage takes that file instead of compressing the
 * same bytes a second time: lzma -3 of the AX3's 100 MB root takes over a minute
 * on the 2-core build machine, gzip -9 of qemu-virt's 12 s.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { sha256File } from "../cache.js";
import type { Compression } from "../compress.js";
import { compressionExt } from "../rootfs/pack.js";

interface RootfsManifest {
  sizes?: { compression?: string };
  files?: Record<string, { sha256?: string }>;
}

/**
 * The compressed file beside `cpio` when the rootfs manifest there shows that
 * it is this cpio (by sha256) compressed as `kind`, and it is unchanged since;
 * else undefined (another ramdisk, a hand-edited file, no manifest).
 */
export async function packedByRootfs(cpio: string, cpioSha256: string, kind: Compression): Promise<string | undefined> {
  const ext = compressionExt(kind);
  if (!ext) return undefined;
  const packed = `${cpio}.${ext}`;
  let m: RootfsManifest;
  try {
    m = JSON.parse(await readFile(join(dirname(cpio), "manifest.json"), "utf8")) as RootfsManifest;
  } catch {
    return undefined;
  }
  if (m.sizes?.compression !== kind) return undefined;
  // By name: a manifest restored from the stage cache names the directory it was built in.
  const recorded = (file: string) => Object.entries(m.files ?? {}).find(([p]) => basename(p) === basename(file))?.[1].sha256;
  if (recorded(cpio) !== cpioSha256) return undefined;
  const want = recorded(packed);
  if (!want || !existsSync(packed) || (await sha256File(packed)) !== want) return undefined;
  return packed;
}
