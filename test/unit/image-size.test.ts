import { describe, expect, it } from "vitest";
import { loadBoard } from "../../src/board/load.js";
import { CheckFailedError } from "../../src/errors.js";
import { checkFits } from "../../src/image/stage.js";
import { multiImageSize } from "../../src/image/size.js";

describe("image size against the flash partition", () => {
  it("counts the header, the size list and the 4-byte padding of each part", () => {
    expect(multiImageSize([4, 4])).toBe(64 + 12 + 8);
    expect(multiImageSize([5, 1, 3])).toBe(64 + 16 + 8 + 4 + 4);
  });

  it("refuses an image over the limit, saying by how much and which part is largest", async () => {
    const virt = await loadBoard("qemu-virt");
    const board = { ...virt, flash: { method: "flashcfg" as const, partition: "image", maxImageSize: 1000 } };
    const parts = [
      { role: "kernel" as const, file: "k.gz", size: 400 },
      { role: "ramdisk" as const, file: "r.gz", size: 700 },
    ];
    let err: unknown;
    try {
      checkFits(board, parts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckFailedError);
    const total = multiImageSize([400, 700]);
    expect((err as Error).message).toContain(`${total - 1000} bytes`);
    expect((err as Error).message).toMatch(/largest part is the ramdisk \(700 bytes/);
    expect(checkFits(board, [{ role: "kernel", file: "k", size: 100 }, { role: "ramdisk", file: "r", size: 100 }]).total).toBe(multiImageSize([100, 100]));
  });

  it("does not pretend to know a limit the board data does not give", async () => {
    const ax3 = await loadBoard("openblocks-ax3");
    expect(checkFits(ax3, [{ role: "kernel", file: "k", size: 10 ** 9 }]).limit).toBeUndefined();
  });
});
