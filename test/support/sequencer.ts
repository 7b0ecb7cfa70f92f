/**
 * The order test files start in. With empty caches a run is as long as its
 * longest chain, and that chain starts with the two kernel builds: every QEMU
 * file waits for the qemu-virt kernel, and the AX3 files for the AX3's (the
 * larger one). vitest's own order (files that failed, then the longest last
 * time, then the largest) put the stand-in SSH files first on a fresh machine,
 * so the AX3's kernel started minutes late. The files that make those builds
 * start first; the rest keep vitest's order, which on a machine that has run
 * the tests before is longest first (vitest.config.ts keeps its record of
 * durations in ~/.cache/kiln, since CI starts from a clean checkout).
 */
import { relative } from "node:path";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/** The files whose beforeAll makes a shared kernel build (test/support/shared-dir.ts), the longest build first. */
export const BUILDS_FIRST = ["test/e2e/ax3-qemu.test.ts", "test/qemu/qemu-board.test.ts"];

/** files in vitest's order, with those named in first moved to the front in first's order. */
export function buildsFirst<T>(files: readonly T[], path: (f: T) => string, first: readonly string[] = BUILDS_FIRST): T[] {
  const rank = (f: T) => {
    const i = first.indexOf(path(f));
    return i < 0 ? first.length : i;
  };
  // Array.prototype.sort is stable: files not named keep vitest's order.
  return [...files].sort((a, b) => rank(a) - rank(b));
}

export default class KilnSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    return buildsFirst(await super.sort(files), (f) => relative(root, f.moduleId));
  }
}
