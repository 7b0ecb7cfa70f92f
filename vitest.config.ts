import { homedir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import KilnSequencer from "./test/support/sequencer.js";

/**
 * Four tiers, each runnable alone (`vitest run --project NAME`):
 *   unit   pure code: no global setup but a temporary directory, no dist/, no
 *          kernel tree, no external tool (it passes with only node on PATH), seconds
 *   tools  quick cross-checks of kiln's code against the real tools it drives
 *          (mkimage, dtc, sh, ssh-keygen, openssl, ansible-inventory): no build either
 *   e2e    the built CLI on real tools (kernel tree, cross compiler, mkimage, sshd)
 *   qemu   images booted in qemu-system-arm through U-Boot
 * e2e and qemu share one prepared kernel tree and the builds under ~/.cache/kiln/e2e
 * (see test/e2e/global-setup.ts). Three files run at a time, but at most two
 * boards (test/support/board-slots.ts): two boards use both of the CI machine's
 * cores, and the third worker runs the files that need no board meanwhile.
 * Files that build the same directory wait for each other
 * (test/support/shared-dir.ts); no file changes a build another one reads.
 * The files that make the kernel builds start first, then those that need no
 * build (test/support/sequencer.ts).
 */
const heavy = {
  testTimeout: 120_000,
  hookTimeout: 3_600_000,
  globalSetup: ["test/e2e/global-setup.ts"],
};

export default defineConfig({
  // vitest's record of each file's last duration, which orders the next run (longest first): outside the
  // checkout, so that CI's clean checkouts have it too.
  cacheDir: join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kiln", "vite"),
  test: {
    sequence: { sequencer: KilnSequencer },
    maxWorkers: 3,
    minWorkers: 1,
    reporters: ["verbose", "./test/support/durations-reporter.ts"],
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], testTimeout: 30_000, globalSetup: ["test/support/tmp-setup.ts"], setupFiles: ["test/support/unit-env.ts"] } },
      { test: { name: "tools", include: ["test/tools/**/*.test.ts"], testTimeout: 60_000, globalSetup: ["test/support/tmp-setup.ts"], setupFiles: ["test/support/unit-env.ts"] } },
      { test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], ...heavy } },
      { test: { name: "qemu", include: ["test/qemu/**/*.test.ts"], ...heavy } },
    ],
  },
});
