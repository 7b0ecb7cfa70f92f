/**
 * One command line per compression, for the image stage and the rootfs stage
 * alike: the rootfs stage measures its ramdisk with the very command the image
 * stage packs it with, so the size it reports is the size in the image. gzip -9
 * and lzma -3 are seed 004's; xz is for ramdisks kiln keeps itself.
 */
export type Compression = "gzip" | "lzma" | "xz" | "none";

/** The command that writes `input` compressed to stdout (the input path is appended); undefined for none. */
export function compressCommand(c: Compression): { cmd: string; args: string[]; pkg: string } | undefined {
  if (c === "gzip") return { cmd: "gzip", args: ["-9n", "-c"], pkg: "gzip" };
  if (c === "lzma") return { cmd: "lzma", args: ["-3", "-c"], pkg: "xz-utils" };
  if (c === "xz") return { cmd: "xz", args: ["--check=crc32", "-9", "-c"], pkg: "xz-utils" };
  return undefined;
}

/** The command line a compression runs, as manifests record it: the same kind at another level gives other bytes. */
export function compressCommandLine(c: Compression): string {
  const cc = compressCommand(c);
  return cc ? [cc.cmd, ...cc.args].join(" ") : "cp";
}
