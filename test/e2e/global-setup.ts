/**
 * Runs once before all tests: builds the CLI that end-to-end tests spawn,
 * unpacks Debian's kernel tree into kiln's cache (a no-op when already there),
 * so that every test reads the same real tree, and makes the SSH key every
 * e2e build authorises.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { StageLog } from "../../src/exec.js";
import { prepareKernelSource } from "../../src/kernel/source.js";
import { ensureE2eKey } from "../support/e2e-key.js";
import { tmpRun } from "../support/tmp-run.js";

export default async function setup(): Promise<() => void> {
  // Listed by both heavy projects: the second finds the first's work done.
  if (process.env.KILN_TEST_WORK) return () => undefined;
  const root = join(import.meta.dirname, "..", "..");
  const teardown = tmpRun("kiln-t-");
  // Made once here: test files run three at a time and would each make it.
  await ensureE2eKey();
  await execa("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  const work = mkdtempSync(join(tmpdir(), "kiln-test-"));
  const log = new StageLog(join(work, "setup.log"));
  const tree = await prepareKernelSource("/usr/src/linux-source-6.1.tar.xz", { arch: "arm", log, debianPackage: "linux-source-6.1" });
  process.env.KILN_KERNEL_TREE = tree.dir;
  process.env.KILN_KERNEL_VERSION = tree.version;
  process.env.KILN_TEST_WORK = work;
  return teardown;
}
