/** Whether what a board reports about itself (device-tree model, cpuinfo) is the board the data describes. */
import type { Board } from "./schema.js";

export interface Identity {
  model: string | undefined;
  cpuinfoHardware: string | undefined;
}

/**
 * Does the running system look like this board? A mismatch says what was found
 * and what was expected. A real board that is also emulated (qemu.identity)
 * matches QEMU's machine too: `emulated` says so, so that a caller guessing the
 * board prefers a board whose own identity it is.
 */
export function matchIdentity(board: Board, id: Identity): { ok: boolean; emulated: boolean; found: string; expected: string } {
  const expected = board.identity.model ?? board.identity.cpuinfoHardware;
  const found = id.model ?? (id.cpuinfoHardware ? `Hardware: ${id.cpuinfoHardware}` : "no /proc/device-tree/model and no Hardware line in /proc/cpuinfo");
  if (!expected) return { ok: true, emulated: false, found, expected: "(the board data names no identity)" };
  const ok = (board.identity.model !== undefined && id.model === board.identity.model) || (board.identity.cpuinfoHardware !== undefined && id.cpuinfoHardware === board.identity.cpuinfoHardware);
  const emulatedModel = board.qemu?.identity?.model;
  const emulated = !ok && emulatedModel !== undefined && id.model === emulatedModel;
  return { ok: ok || emulated, emulated, found: emulated ? `${found} (${board.name} under QEMU)` : found, expected: emulatedModel ? `${expected}, or ${emulatedModel} under QEMU` : expected };
}
