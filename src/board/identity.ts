/** Whether what a board reports about itself (device-tree model, cpuinfo) is the board the data describes. */
import type { Board } from "./schema.js";

export interface Identity {
  model: string | undefined;
  cpuinfoHardware: string | undefined;
}

/** Does the running system look like this board? A mismatch says what was found and what was expected. */
export function matchIdentity(board: Board, id: Identity): { ok: boolean; found: string; expected: string } {
  const expected = board.identity.model ?? board.identity.cpuinfoHardware;
  const found = id.model ?? (id.cpuinfoHardware ? `Hardware: ${id.cpuinfoHardware}` : "no /proc/device-tree/model and no Hardware line in /proc/cpuinfo");
  if (!expected) return { ok: true, found, expected: "(the board data names no identity)" };
  const ok = (board.identity.model !== undefined && id.model === board.identity.model) || (board.identity.cpuinfoHardware !== undefined && id.cpuinfoHardware === board.identity.cpuinfoHardware);
  return { ok, found, expected };
}
