/** Spawn the real, built CLI as a user would. */
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

export function testWork(): string {
  const w = process.env.KILN_TEST_WORK;
  if (!w) throw new Error("KILN_TEST_WORK is not set: run the tests through vitest (test/e2e/global-setup.ts)");
  return w;
}

export function kernelTree(): string {
  const t = process.env.KILN_KERNEL_TREE;
  if (!t) throw new Error("KILN_KERNEL_TREE is not set: run the tests through vitest (test/e2e/global-setup.ts)");
  return t;
}
