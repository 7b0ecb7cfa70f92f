/**
 * Which flash layout an image is built for and what is known of it: the board
 * data's default layout, a named one (`--flash-layout`), or the one a probed
 * unit reports (`--unit`). The image stage takes two things from it: the
 * partitions node written into the DTB, when every offset and size is known,
 * and the size limit of the kernel-image partition, when that is known.
 */
import { InputError } from "../errors.js";
import { matchIdentity } from "./identity.js";
import { suggest } from "./load.js";
import type { Board, FlashPartition } from "./schema.js";

export interface PlacedPartition {
  name: string;
  offset: number;
  size: number;
  readOnly: boolean;
}

export interface FlashPlan {
  /** "default", or the name of one of flash.layouts. */
  layout: string;
  imagePartition: string;
  /** What is known of the partitions, in flash order. */
  partitions: FlashPartition[];
  /** Every offset and size known: the DTB gets these. */
  placed: PlacedPartition[] | undefined;
  /** Device-tree path of the flash node, when the board data names it. */
  node: string | undefined;
  limit: number | undefined;
  /** Where the layout and the limit come from: board data or a unit profile. */
  source: string;
  /** What is not known, said plainly, with what to do about it. */
  notes: string[];
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const quoted = (names: readonly string[]): string => (names.length === 0 ? "nothing" : names.map((n) => `"${n}"`).join(", "));

export function layoutNames(board: Board): string[] {
  return ["default", ...Object.keys(board.flash?.layouts ?? {})];
}

/** The kernel-image partition's name in every layout, default first: what flashcfg may look for. */
export function imagePartitionNames(board: Board): string[] {
  const flash = board.flash;
  if (!flash) return [];
  return [...new Set([flash.partition, ...Object.values(flash.layouts ?? {}).map((l) => l.partition ?? flash.partition)])];
}

interface Layout {
  layout: string;
  imagePartition: string;
  partitions: FlashPartition[];
}

function selectLayout(board: Board, name: string | undefined): Layout | undefined {
  const flash = board.flash;
  if (!flash) {
    if (name !== undefined) throw new InputError(`board ${board.name} has no flash settings, so no flash layout "${name}"`, `add a flash: section to board/${board.name}/board.yaml`);
    return undefined;
  }
  if (name === undefined || name === "default") return { layout: "default", imagePartition: flash.partition, partitions: flash.partitions ?? [] };
  const l = flash.layouts?.[name];
  if (!l) {
    const near = suggest(name, layoutNames(board));
    throw new InputError(
      `board ${board.name} has no flash layout "${name}"${near ? ` (did you mean "${near}"?)` : ""}`,
      `its layouts: ${layoutNames(board).join(", ")} (flash.layouts in board/${board.name}/board.yaml)`,
    );
  }
  return { layout: name, imagePartition: l.partition ?? flash.partition, partitions: l.partitions };
}

/**
 * Offsets and sizes for the DTB, or undefined when any is unknown. Sizes alone
 * (what /proc/mtd gives) place the partitions only when they fill the chip
 * exactly: then they must lie end to end from 0, as mtdparts lays them out.
 */
export function placePartitions(partitions: readonly FlashPartition[], chipSize: number | undefined): PlacedPartition[] | undefined {
  if (partitions.length === 0 || partitions.some((p) => p.size === undefined)) return undefined;
  if (partitions.every((p) => p.offset !== undefined)) {
    return partitions.map((p) => ({ name: p.name, offset: p.offset as number, size: p.size as number, readOnly: p.readOnly }));
  }
  const total = partitions.reduce((sum, p) => sum + (p.size as number), 0);
  if (partitions.some((p) => p.offset !== undefined) || chipSize === undefined || total !== chipSize) return undefined;
  let offset = 0;
  return partitions.map((p) => {
    const placed = { name: p.name, offset, size: p.size as number, readOnly: p.readOnly };
    offset += placed.size;
    return placed;
  });
}

/** What a probed unit's profile (remote/profile.ts) says that the flash plan needs. */
export interface UnitFacts {
  file: string;
  profile: { host: string; port: number; model?: string; cpuinfoHardware?: string; mtd: { name: string; size: number }[] };
}

/**
 * The unit must be this board, and its /proc/mtd must show this layout's
 * names in this order (the order offsets are derived in). Its sizes are the
 * measured facts; board data that says otherwise is wrong and is refused.
 */
function partitionsFromUnit(board: Board, l: Layout, unit: UnitFacts): FlashPartition[] {
  const { profile: p, file } = unit;
  const where = `unit ${p.host}:${p.port} (profile ${file})`;
  const id = matchIdentity(board, { model: p.model, cpuinfoHardware: p.cpuinfoHardware });
  if (!id.ok) throw new InputError(`${where} is not a ${board.name}: found "${id.found}", expected "${id.expected}"`, "probe the right board, or build for the board it is (--board)");
  const found = p.mtd.map((m) => m.name);
  const same = (names: readonly string[]): boolean => names.join("\n") === found.join("\n");
  const other = layoutNames(board).find((n) => n !== l.layout && same((selectLayout(board, n)?.partitions ?? []).map((x) => x.name)));
  const useOther = other ? `they are the partitions of layout "${other}": build with --flash-layout ${other}` : undefined;
  if (!found.includes(l.imagePartition)) {
    throw new InputError(
      `${where} has no "${l.imagePartition}" partition in /proc/mtd, the partition that takes the kernel image (layout ${l.layout}); found ${quoted(found)}`,
      useOther ??
        (found.length <= 1
          ? "its running kernel does not divide the flash into partitions (a mainline DTB without them): probe it under the vendor firmware or under a kiln image built with partitions"
          : `check flash.partition in board/${board.name}/board.yaml`),
    );
  }
  const expected = l.partitions.map((x) => x.name);
  if (expected.length === 0) return p.mtd.map((m) => ({ name: m.name, size: m.size, readOnly: false }));
  if (!same(expected)) {
    throw new InputError(
      `the flash partitions of ${where} do not match the board data (layout ${l.layout}): found ${quoted(found)}, expected ${quoted(expected)}`,
      useOther ?? `correct flash.partitions in board/${board.name}/board.yaml (names as /proc/mtd shows them, in its order), or probe the unit again`,
    );
  }
  return l.partitions.map((x, i) => {
    const size = (p.mtd[i] as (typeof p.mtd)[number]).size;
    if (x.size !== undefined && x.size !== size) {
      throw new InputError(
        `"${x.name}" is ${hex(size)} bytes on ${where} but ${hex(x.size)} in the board data (layout ${l.layout})`,
        `correct its size in board/${board.name}/board.yaml, or leave it out and let the unit's profile give it`,
      );
    }
    return { ...x, size };
  });
}

/** Board offsets with a unit's sizes are checked again: together they may overlap where neither alone does. */
function checkPlaced(placed: readonly PlacedPartition[], chipSize: number | undefined): void {
  placed.forEach((p, i) => {
    const next = placed[i + 1];
    const end = p.offset + p.size;
    if ((next && end > next.offset) || (chipSize !== undefined && end > chipSize)) {
      throw new InputError(
        `"${p.name}" (${hex(p.offset)}-${hex(end)}) overlaps ${next && end > next.offset ? `"${next.name}" at ${hex(next.offset)}` : `the end of the ${hex(chipSize as number)}-byte flash`}`,
        "the offsets in the board data do not fit the sizes the unit reports: correct the offsets",
      );
    }
  });
}

export function planFlash(board: Board, opts: { layout?: string; unit?: UnitFacts } = {}): FlashPlan | undefined {
  const l = selectLayout(board, opts.layout);
  if (!l || !board.flash) return undefined;
  const partitions = opts.unit ? partitionsFromUnit(board, l, opts.unit) : l.partitions;
  const imageSize = partitions.find((p) => p.name === l.imagePartition)?.size;
  // The board-wide maxImageSize caps every layout (it defaults to the default layout's partition size).
  const cap = board.flash.maxImageSize;
  const limit = imageSize === undefined ? (l.layout === "default" ? cap : undefined) : Math.min(imageSize, cap ?? imageSize);
  // Without the board data's list, which partitions are read-only is unknown: no DTB node rather than a writable U-Boot.
  const placed = l.partitions.length > 0 ? placePartitions(partitions, board.flash.size) : undefined;
  if (placed) checkPlaced(placed, board.flash.size);
  const source = opts.unit ? `the profile of unit ${opts.unit.profile.host}:${opts.unit.profile.port} (${opts.unit.file})` : `board/${board.name}/board.yaml (layout ${l.layout})`;
  const notes: string[] = [];
  if (limit === undefined) {
    notes.push(
      `the size of the "${l.imagePartition}" partition is unknown until the board is probed, so the image size is not checked: run \`kiln probe --host H\` on a unit and build with --unit H`,
    );
  }
  if (!placed && l.partitions.length === 0 && opts.unit) {
    notes.push(`the DTB gets no partitions node: the board data lists no flash.partitions, so which of the unit's are read-only is unknown`);
  } else if (!placed && partitions.length > 0) {
    const missing = partitions.filter((p) => p.offset === undefined || p.size === undefined).map((p) => p.name);
    const which = missing.length === partitions.length ? "the partitions" : quoted(missing);
    notes.push(
      `the DTB gets no partitions node: the offsets or sizes of ${which} are not known${opts.unit ? ` (the unit's sizes do not fill the ${board.flash.size !== undefined ? hex(board.flash.size) : "unknown"}-byte flash, so its offsets cannot be derived)` : ""}; ` +
        `a kiln kernel will show the flash as one device, and flashcfg will not find "${l.imagePartition}" there`,
    );
  }
  return { layout: l.layout, imagePartition: l.imagePartition, partitions, placed, node: board.flash.node, limit, source, notes };
}
