/**
 * Test files run three at a time (vitest.config.ts), but at most two emulated
 * boards run at once on this machine: each QEMU keeps a core busy, and a third
 * board on two cores slows every boot, where a trial's watchdog deadline and
 * the reboot timeouts live. The third worker meanwhile runs the files that
 * need no board (stand-in SSH servers, config, mkimage). A test process takes
 * a slot when it starts its first board and gives it back when it stops its
 * last one.
 *
 * A process that holds a slot may wait for a shared build (shared-dir.ts), but
 * a file never takes a slot while it holds a shared build's turn: no waiting
 * in a circle.
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "../../src/paths.js";
import { takeOneOf } from "./shared-dir.js";

export const BOARDS = 2;

let slot: string | undefined;
let boards = 0;

const slotFile = (i: number) => join(cacheDir(), "e2e", `board-slot-${i}.test-lock`);

/** Wait for one of the BOARDS slots (the first board of this process), or count one more board in it. */
export async function takeBoardSlot(): Promise<void> {
  if (boards === 0) {
    mkdirSync(join(cacheDir(), "e2e"), { recursive: true });
    slot = await takeOneOf(Array.from({ length: BOARDS }, (_, i) => slotFile(i)), `one of ${BOARDS} board slots`);
  }
  boards += 1;
}

export function releaseBoardSlot(): void {
  if (boards === 0) return;
  boards -= 1;
  if (boards > 0 || slot === undefined) return;
  rmSync(slot, { force: true });
  slot = undefined;
}

/** Start a board in this process's slot; the slot is given back if it does not start. */
export async function withBoardSlot<T>(start: () => Promise<T>): Promise<T> {
  await takeBoardSlot();
  try {
    return await start();
  } catch (err) {
    releaseBoardSlot();
    throw err;
  }
}
