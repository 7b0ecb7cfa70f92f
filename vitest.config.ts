import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", "test/e2e/**/*.test.ts"],
    // End-to-end tests share one prepared kernel tree (see test/e2e/global-setup.ts);
    // running files one at a time keeps two cores from thrashing on make.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 1_800_000,
    globalSetup: ["test/e2e/global-setup.ts"],
  },
});
