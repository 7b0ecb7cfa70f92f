/**
 * The order test files start in, in three lanes:
 *  1. the files that make the two kernel builds, the AX3's (the larger) first:
 *     with empty caches a run is as long as its longest chain, and that chain
 *     starts with them;
 *  2. the files that need neither a shared build nor a board (stand-in SSH
 *     servers, config, mkimage): they run in the third worker while the first
 *     two compile or boot;
 *  3. the files that wait for a shared build or a board slot: those that import
 *     the test support modules for them (shared-dir, virt-board, board-slots,
 *     seed-build), so a new file that builds or boots lands here by itself.
 * Within a lane, vitest's own order: files that failed, then the longest last
 * time (vitest.config.ts keeps that record in ~/.cache/kiln, since CI starts
 * from a clean checkout), then the largest. Before, vitest's order alone put the
 * stand-in SSH files first on a fresh machine, and the AX3's kernel started
 * minutes late.
 */
import { readFile } from "node:fs/promises";
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The files whose beforeAll makes a shared kernel build (test/support/shared-dir.ts), the longest build first. */
export const BUILDS_FIRST = ["test/e2e/ax3-qemu.test.ts", "test/qemu/qemu-board.test.ts"];

const SHARED_SUPPORT = /^import [^;]* from "\.\.\/support\/(?:shared-dir|virt-board|board-slots|seed-build)\.js";$/m;

/** Whether a test file (its source) waits for a shared build or a board: it imports their support modules. */
export const waitsForShared = (source: string): boolean => SHARED_SUPPORT.test(source);

interface Placed<T> {
  file: T;
  path: string;
  waits: boolean;
}

/** A file's place: each of BUILDS_FIRST its own, then the files that need no build, then those that wait. */
function lane(f: Placed<unknown>): number {
  const i = BUILDS_FIRST.indexOf(f.path);
  if (i >= 0) return i;
  return BUILDS_FIRST.length + (f.waits ? 1 : 0);
}

/** files (in vitest's order) sorted into their lanes; Array.prototype.sort is stable, so each lane keeps vitest's order. */
export function inLanes<T>(files: readonly Placed<T>[]): T[] {
  return [...files].sort((a, b) => lane(a) - lane(b)).map((f) => f.file);
}

export default class KilnSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const placed = await Promise.all(
      (await super.sort(files)).map(async (file) => ({ file, path: relative(root, file.moduleId), waits: waitsForShared(await readFile(file.moduleId, "utf8")) })),
    );
    return inLanes(placed);
  }
}
