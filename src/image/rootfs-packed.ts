/**
 * The rootfs stage compresses its cpio with the very command the image stage
 * packs it with (it reports the size the image will have) and keeps the result
 * beside the cpio. The image stage takes that file instead of compressing the
 * same bytes a second time: lzma -3 of the AX3's 100 MB root takes over a minute
 * on the 2-core build machine, gzip -9 of qemu-virt's 12 s.
 */
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { sha256File } from "../cache.js";
import { type Compression, compressCommandLine } from "../compress.js";
import { compressionExt } from "../rootfs/pack.js";
import { readRootfsManifest, recordedSha256 } from "../rootfs/manifest-view.js";

/**
 * The compressed file beside `cpio` when the rootfs manifest there shows that
 * it is this cpio (by sha256) compressed by the command this kiln runs for
 * `kind`, and it is unchanged since; else undefined (another ramdisk, another
 * level, a hand-edited file, no manifest).
 */
export async function packedByRootfs(cpio: string, cpioSha256: string, kind: Compression): Promise<string | undefined> {
  const ext = compressionExt(kind);
  if (!ext) return undefined;
  const packed = `${cpio}.${ext}`;
  const m = await readRootfsManifest(dirname(cpio));
  // The command, not only the kind: a root from a kiln that ran lzma at another level has other bytes.
  if (!m || m.sizes?.compression !== kind || m.sizes.command !== compressCommandLine(kind)) return undefined;
  if (recordedSha256(m, cpio) !== cpioSha256) return undefined;
  const want = recordedSha256(m, packed);
  if (!want || !existsSync(packed) || (await sha256File(packed)) !== want) return undefined;
  return packed;
}
