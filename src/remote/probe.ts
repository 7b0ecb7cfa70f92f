/** Read-only facts about a running board: who it is and what its flash looks like. */
import { type Identity, matchIdentity } from "../board/identity.js";
import type { Board } from "../board/schema.js";
import { KilnError } from "../errors.js";
import type { Remote } from "./ssh.js";

export interface MtdPartition {
  dev: string;
  size: number;
  eraseSize: number;
  name: string;
}

/** /proc/mtd: `mtd1: 04000000 00040000 "image"` lines after a header. */
export function parseProcMtd(text: string): MtdPartition[] {
  const out: MtdPartition[] = [];
  for (const line of text.split("\n")) {
    const m = /^(mtd\d+):\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+"(.*)"\s*$/.exec(line.trim());
    if (m) out.push({ dev: m[1] as string, size: Number.parseInt(m[2] as string, 16), eraseSize: Number.parseInt(m[3] as string, 16), name: m[4] as string });
  }
  return out;
}


/**
 * Board-side paths are read under $KILN_BOARD_ROOT when the board's SSH server
 * sets it: a test seam for a stand-in board (an sshd on loopback), empty on real boards.
 */
export const BOARD_ROOT = "${KILN_BOARD_ROOT:-}";

/** The same root as a path, for SFTP (which expands no variables): "" on a real board. */
export async function boardRoot(remote: Remote): Promise<string> {
  const root = (await remote.execScript(`printf '%s' "${BOARD_ROOT}"`)).stdout;
  return root.replace(/\/+$/, "");
}

export async function readProcMtd(remote: Remote): Promise<MtdPartition[]> {
  return parseProcMtd((await remote.execScript(`cat ${BOARD_ROOT}/proc/mtd 2>/dev/null`)).stdout);
}

export async function readIdentity(remote: Remote): Promise<Identity> {
  const model = await remote.execScript(`cat ${BOARD_ROOT}/proc/device-tree/model 2>/dev/null`);
  const cpuinfo = await remote.execScript(`grep -i '^Hardware' ${BOARD_ROOT}/proc/cpuinfo 2>/dev/null`);
  return {
    model: model.stdout.replace(/\0/g, "").trim() || undefined,
    cpuinfoHardware: /:\s*(.*)$/.exec(cpuinfo.stdout.trim())?.[1]?.trim() || undefined,
  };
}

/** The board must be `board`: refused otherwise, before anything is written. Returns what it says it is. */
export async function checkIdentity(remote: Remote, board: Board): Promise<string> {
  return (await checkedIdentity(remote, board)).found;
}

/** As checkIdentity, and whether the board is running under QEMU (a real board's emulated twin). */
export async function checkedIdentity(remote: Remote, board: Board): Promise<{ found: string; emulated: boolean }> {
  const id = matchIdentity(board, await readIdentity(remote));
  if (!id.ok) throw new KilnError(`${remote.target.host} is not a ${board.name}: found "${id.found}", expected "${id.expected}"`, { hint: "check --host and --board; nothing was written" });
  return { found: id.found, emulated: id.emulated };
}

export type FlashcfgKind = "kiln" | "vendor" | "none";

export async function whichFlashcfg(remote: Remote): Promise<{ kind: FlashcfgKind; path: string | undefined }> {
  const r = await remote.execScript("p=$(command -v flashcfg) || exit 3; echo \"$p\"; grep -q \"kiln's flashcfg\" \"$p\" && echo kiln || echo vendor");
  if (r.code !== 0) return { kind: "none", path: undefined };
  const [path, kind] = r.stdout.trim().split("\n");
  return { kind: kind === "kiln" ? "kiln" : "vendor", path };
}

/** Free bytes in a remote directory (df -k). */
export async function freeBytes(remote: Remote, dir: string): Promise<number | undefined> {
  const r = await remote.exec(["df", "-k", dir]);
  const last = r.stdout.trim().split("\n").pop() ?? "";
  const fields = last.trim().split(/\s+/);
  const avail = Number(fields[3]);
  return Number.isFinite(avail) ? avail * 1024 : undefined;
}
