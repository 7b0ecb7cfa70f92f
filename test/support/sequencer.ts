/**
 * The order test files start in, in three lanes:
 *  1. the files that make the two kernel builds, the AX3's (the larger) first:
 *     with empty caches a run is as long as its longest chain, and that chain
 *     starts with them;
 *  2. the files that need neither a shared build nor a board (stand-in SSH
 *     servers, config, mkimage): they run in the third worker while the first
 *     two compile or boot;
 *  3. the files that wait for a shared build or a board slot (board-slots.ts).
 * Within a lane, vitest's own order: files that failed, then the longest last
 * time (vitest.config.ts keeps that record in ~/.cache/kiln, since CI starts
 * from a clean checkout), then the largest. Before, vitest's order alone put the
 * stand-in SSH files first on a fresh machine, and the AX3's kernel started
 * minutes late.
 */
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The files whose beforeAll makes a shared kernel build (test/support/shared-dir.ts), the longest build first. */
export const BUILDS_FIRST = ["test/e2e/ax3-qemu.test.ts", "test/qemu/qemu-board.test.ts"];

/** Files that wait for a shared build or boot a board: every file of the qemu tier, and the AX3 build's other file. */
const waitsForBuilds = (path: string): boolean => path.startsWith("test/qemu/") || path === "test/e2e/build.test.ts";

/** A file's place: each of BUILDS_FIRST its own, then the files that need no build, then those that wait. */
function lane(path: string): number {
  const i = BUILDS_FIRST.indexOf(path);
  if (i >= 0) return i;
  return BUILDS_FIRST.length + (waitsForBuilds(path) ? 1 : 0);
}

/** files (in vitest's order) sorted into their lanes; Array.prototype.sort is stable, so each lane keeps vitest's order. */
export function inLanes<T>(files: readonly T[], path: (f: T) => string): T[] {
  return [...files].sort((a, b) => lane(path(a)) - lane(path(b)));
}

export default class KilnSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    return inLanes(await super.sort(files), (f) => relative(root, f.moduleId));
  }
}
