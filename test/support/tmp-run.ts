/**
 * Every temporary file a test run makes (the tests' own, and those of the kiln
 * processes it starts) goes under one directory, removed when the run ends:
 * a run leaves nothing behind in /tmp. The projects' global setups share the
 * first one's directory instead of nesting (paths stay short: a UNIX socket
 * path must fit in 108 bytes).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Mount points under `dir`, deepest first. A root filesystem build that a test
 * timeout killed leaves mmdebstrap's /proc, /sys and /dev mounts behind, and
 * removing the directory over them fails the whole run with EBUSY.
 */
function mountsUnder(dir: string): string[] {
  const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => decode(l.split(" ")[1] ?? ""))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

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
    for (const m of mountsUnder(dir)) {
      process.stderr.write(`test run: unmounting ${m}, left behind by a killed build\n`);
      try {
        execFileSync("umount", ["-l", m], { stdio: "ignore" });
      } catch {
        // already gone with its parent
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
