/** Sizes of U-Boot images, shared by the image and rootfs stages. */
/** Bytes a multi image takes: header, the size list with its 0 terminator, parts padded to 4. */
export function multiImageSize(parts: readonly number[]): number {
  return 64 + 4 * (parts.length + 1) + parts.reduce((sum, s) => sum + Math.ceil(s / 4) * 4, 0);
}

export function kib(n: number): string {
  return `${n} bytes (${(n / 1024).toFixed(1)} KiB)`;
}
