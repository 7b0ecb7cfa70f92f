/** Stand-in image parts for tests that exercise packing and header checks, not kernels. */

/** A zImage as far as the boot wrapper's header goes: magic at 0x24, start 0 at 0x28, end at 0x2c. */
export function fakeZImage(size: number): Buffer {
  const z = Buffer.alloc(size, 0x11);
  z.writeUInt32LE(0x016f2818, 0x24);
  z.writeUInt32LE(0, 0x28);
  z.writeUInt32LE(size, 0x2c);
  return z;
}
