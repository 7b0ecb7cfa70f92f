import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cacheDir } from "../../src/paths.js";
import { BOARDS, releaseBoardSlot, takeBoardSlot, withBoardSlot } from "../support/board-slots.js";

const slot = (i: number) => join(cacheDir(), "e2e", `board-slot-${i}.test-lock`);
const holder = (i: number) => (existsSync(slot(i)) ? readFileSync(slot(i), "utf8") : undefined);
const heldBy = (pid: number) => {
  mkdirSync(join(cacheDir(), "e2e"), { recursive: true });
  for (let i = 0; i < BOARDS; i++) writeFileSync(slot(i), String(pid));
};

describe("board slots shared by the test processes", () => {
  afterEach(() => {
    for (let i = 0; i < BOARDS; i++) rmSync(slot(i), { force: true });
  });

  it("one slot per process, however many boards it starts; given back with its last board", async () => {
    await takeBoardSlot();
    expect(holder(0)).toBe(String(process.pid));
    await takeBoardSlot();
    expect(holder(1)).toBeUndefined();
    releaseBoardSlot();
    expect(holder(0)).toBe(String(process.pid));
    releaseBoardSlot();
    expect(holder(0)).toBeUndefined();
  });

  it("waits while live processes hold every slot, and takes the first one given back", async () => {
    heldBy(process.ppid);
    let taken = false;
    const wait = takeBoardSlot().then(() => (taken = true));
    await new Promise((r) => setTimeout(r, 1500));
    expect(taken).toBe(false);
    rmSync(slot(1));
    await wait;
    expect(holder(1)).toBe(String(process.pid));
    expect(holder(0)).toBe(String(process.ppid));
    releaseBoardSlot();
    expect(holder(1)).toBeUndefined();
  });

  it("takes over a slot whose holder died (a test process killed by a timeout)", async () => {
    const dead = spawnSync(process.execPath, ["-e", ""]).pid ?? 0;
    expect(dead).toBeGreaterThan(0);
    heldBy(dead);
    await takeBoardSlot();
    expect(holder(0)).toBe(String(process.pid));
    releaseBoardSlot();
  });

  it("gives the slot back when the board does not start", async () => {
    await expect(withBoardSlot(() => Promise.reject(new Error("kiln qemu failed")))).rejects.toThrow(/kiln qemu failed/);
    expect(holder(0)).toBeUndefined();
  });
});
