/**
 * The flash partitions travel in the DTB the image carries: a
 * `fixed-partitions` node under the flash node, which Linux reads with
 * MTD_OF_PARTS. So /proc/mtd on a kiln system shows the names and sizes the
 * vendor firmware showed, and kiln's flashcfg finds the kernel-image partition
 * by its name. Written with fdtput (the DTB stays the kernel's or QEMU's own,
 * with one node added), never by recompiling the whole tree.
 */
import { copyFile, readFile, rename, rm } from "node:fs/promises";
import type { PlacedPartition } from "../board/flash-layout.js";
import { InputError } from "../errors.js";
import { requireTool, run, type StageLog } from "../exec.js";
import { tempSibling } from "../fsutil.js";

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;

export interface FdtNode {
  path: string;
  compatible: string[];
}

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Every node of a flattened device tree with its compatible strings: enough to
 * find the flash node, which fdtget cannot search for.
 */
export function fdtNodes(dtb: Buffer, what = "the DTB"): FdtNode[] {
  if (dtb.length < 40 || dtb.readUInt32BE(0) !== FDT_MAGIC) throw new InputError(`${what} is not a flattened device tree (no magic d00dfeed)`);
  const structAt = dtb.readUInt32BE(8);
  const stringsAt = dtb.readUInt32BE(12);
  const cstr = (at: number): string => dtb.toString("utf8", at, dtb.indexOf(0, at));
  const nodes: FdtNode[] = [];
  const open: FdtNode[] = [];
  let pos = structAt;
  while (pos + 4 <= dtb.length) {
    const token = dtb.readUInt32BE(pos);
    pos += 4;
    if (token === FDT_BEGIN_NODE) {
      const name = cstr(pos);
      pos = align4(pos + Buffer.byteLength(name) + 1);
      const parent = open.at(-1);
      const node = { path: parent === undefined ? "/" : `${parent.path === "/" ? "" : parent.path}/${name}`, compatible: [] as string[] };
      nodes.push(node);
      open.push(node);
    } else if (token === FDT_END_NODE) {
      open.pop();
    } else if (token === FDT_PROP) {
      const len = dtb.readUInt32BE(pos);
      const name = cstr(stringsAt + dtb.readUInt32BE(pos + 4));
      const node = open.at(-1);
      if (name === "compatible" && node) node.compatible = dtb.toString("latin1", pos + 8, pos + 8 + len).split("\0").filter(Boolean);
      pos = align4(pos + 8 + len);
    } else if (token === FDT_END) {
      return nodes;
    } else if (token !== FDT_NOP) {
      break;
    }
  }
  throw new InputError(`${what} is damaged: its structure block does not end properly`);
}

/** The flash node: the one the board data names, else the only node compatible "cfi-flash". */
export function flashNode(nodes: readonly FdtNode[], named: string | undefined, what: string): string {
  const flashes = nodes.filter((n) => n.compatible.includes("cfi-flash")).map((n) => n.path);
  if (named !== undefined) {
    if (nodes.some((n) => n.path === named)) return named;
    throw new InputError(`flash.node ${named} is not a node of ${what}`, `nodes compatible "cfi-flash" there: ${flashes.join(", ") || "none"}`);
  }
  if (flashes.length === 1) return flashes[0] as string;
  throw new InputError(
    flashes.length === 0 ? `${what} has no node compatible "cfi-flash" to put the flash partitions under` : `${what} has ${flashes.length} nodes compatible "cfi-flash": ${flashes.join(", ")}`,
    "name the flash node's path in the board data: flash.node",
  );
}

/**
 * Copy `src` to `out` with a `partitions` node (compatible "fixed-partitions",
 * one cell each for address and size) under the flash node, one
 * partition@<offset> per partition with `label`, `reg` and `read-only`. An
 * existing partitions node is replaced: the board data or the unit is the truth.
 * Returns the flash node's path.
 */
export async function writeDtbPartitions(src: string, out: string, opts: { node: string | undefined; partitions: readonly PlacedPartition[] }, log: StageLog): Promise<string> {
  await requireTool("fdtput", "device-tree-compiler", "it writes the flash partitions into the DTB");
  const nodes = fdtNodes(await readFile(src), src);
  const node = flashNode(nodes, opts.node, src);
  for (const p of opts.partitions) {
    if (p.offset + p.size > 0xffffffff) throw new InputError(`partition "${p.name}" ends beyond 4 GiB: kiln writes one-cell reg values`);
  }
  const parts = `${node === "/" ? "" : node}/partitions`;
  const tmp = tempSibling(out);
  const fdtput = (flags: string[], ...args: string[]): Promise<unknown> => run("fdtput", [...flags, tmp, ...args], { log, what: "fdtput" });
  // libfdt inserts a new property or subnode before the existing ones: adding in
  // reverse order leaves them in the order a reader expects.
  try {
    await copyFile(src, tmp);
    if (nodes.some((n) => n.path === parts)) await fdtput(["-r"], parts);
    await fdtput(["-c"], parts);
    await fdtput(["-t", "x"], parts, "#size-cells", "1");
    await fdtput(["-t", "x"], parts, "#address-cells", "1");
    await fdtput(["-t", "s"], parts, "compatible", "fixed-partitions");
    const paths = opts.partitions.map((p) => `${parts}/partition@${p.offset.toString(16)}`);
    await fdtput(["-c"], ...[...paths].reverse());
    for (const [i, p] of opts.partitions.entries()) {
      const at = paths[i] as string;
      if (p.readOnly) await fdtput([], at, "read-only");
      await fdtput(["-t", "x"], at, "reg", p.offset.toString(16), p.size.toString(16));
      await fdtput(["-t", "s"], at, "label", p.name);
    }
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  return node;
}
