/**
 * Every temporary file a test run makes (the tests' own, and those of the kiln
 * processes it starts) goes under one directory, removed when the run ends:
 * a run leaves nothing behind in /tmp. The projects' global setups share the
 * first one's directory instead of nesting (paths stay short: a UNIX socket
 * path must fit in 108 bytes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function tmpRun(prefix: string): () => void {
  if (process.env.KILN_TEST_TMP) return () => undefined;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  process.env.KILN_TEST_TMP = dir;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    delete process.env.KILN_TEST_TMP;
    rmSync(dir, { recursive: true, force: true });
  };
}
