/** Spawn the real, built CLI as a user would. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";

export const repoRoot = join(import.meta.dirname, "..", "..");

export interface KilnRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function kiln(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<KilnRun> {
  const r = await execa("node", [join(repoRoot, "bin", "kiln.js"), ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...opts.env },
    reject: false,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The CLI as a running process, for a test that acts while it runs (a signal, a cut link). */
export function kilnProcess(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  return execa("node", [join(repoRoot, "bin", "kiln.js"), ...args], { cwd: opts.cwd ?? repoRoot, env: { ...opts.env }, reject: false, stdin: "ignore" });
}

/**
 * The run's work directory, one per vitest worker: files run three at a time, and
 * each file's temporary images, state directory and QEMU instances stay apart
 * from the others'.
 */
export function testWork(): string {
  const w = process.env.KILN_TEST_WORK;
  if (!w) throw new Error("KILN_TEST_WORK is not set: run the tests through vitest (test/e2e/global-setup.ts)");
  const dir = join(w, `w${process.env.VITEST_POOL_ID ?? "0"}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function kernelTree(): string {
  const t = process.env.KILN_KERNEL_TREE;
  if (!t) throw new Error("KILN_KERNEL_TREE is not set: run the tests through vitest (test/e2e/global-setup.ts)");
  return t;
}
