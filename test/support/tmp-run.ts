/**
 * Every temporary file a test run makes (the tests' own, and those of the kiln
 * processes it starts) goes under one directory, removed when the run ends:
 * a run leaves nothing behind in /tmp.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tmpRun(prefix: string): () => void {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    rmSync(dir, { recursive: true, force: true });
  };
}
