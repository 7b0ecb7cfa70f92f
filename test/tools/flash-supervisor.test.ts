/**
 * The detached flashcfg run and its poll, executed here by sh with a stand-in
 * flashcfg; the board-side proof (Ctrl-C, a cut link) is the QEMU board's test.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { detachedFlashcfgScript, flashcfgFailureHint, parsePoll, pollScript } from "../../src/remote/flash-supervisor.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-supervisor-"));
const bin = join(dir, "bin");
mkdirSync(bin);
// Writes a line, takes a moment, exits with the code it is given.
writeFileSync(join(bin, "flashcfg"), '#!/bin/sh\necho "flashcfg: writing $3"\nsleep 1\nexit "$FAKE_RC"\n');
chmodSync(join(bin, "flashcfg"), 0o755);

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
}

describe("flashcfg supervised from the build machine", () => {
  it("runs detached: the starting shell returns at once, the exit code and output land in the run's directory", async () => {
    const run = join(dir, "run 1");
    mkdirSync(run);
    const r = await execa("sh", ["-c", detachedFlashcfgScript(["flashcfg", "-y", "-f", `${run}/it's.uImage`], run)], { env: { PATH: `${bin}:/usr/bin:/bin`, FAKE_RC: "4" } });
    expect(r.exitCode).toBe(0);
    // The shell returned while flashcfg still runs (it sleeps): the poll says so.
    expect(parsePoll((await execa("sh", ["-c", pollScript(run)])).stdout).rc).toBeUndefined();
    await waitFor(join(run, "flashcfg.rc"));
    expect(readFileSync(join(run, "flashcfg.rc"), "utf8").trim()).toBe("4");
    expect(readFileSync(join(run, "flashcfg.log"), "utf8")).toBe(`flashcfg: writing ${run}/it's.uImage\n`);
    expect(parsePoll((await execa("sh", ["-c", pollScript(run)])).stdout).rc).toBe(4);
  });

  it("a trial's run feeds the watchdog from the board and leaves it armed: the script parses and names it", async () => {
    const s = detachedFlashcfgScript(["flashcfg", "-y", "-f", "/tmp/x/image.uImage", "-s", "ab".repeat(32)], "/tmp/x", 120);
    expect(s).toContain("busybox watchdog -T 120 -t 5 -F /dev/watchdog");
    expect(s).toContain("kill -9 $w");
    await execa("sh", ["-n", "-c", s]);
  });

  it("reads a poll: the exit code once there, flashcfg's status line without the board's clock", () => {
    expect(parsePoll("running\n2026-12-02 09:40:01 writing 5064 bytes to /dev/mtd1 \"image\": do not power the board off\n")).toEqual({
      rc: undefined,
      status: 'writing 5064 bytes to /dev/mtd1 "image": do not power the board off',
    });
    expect(parsePoll("0\n2026-12-02 09:40:09 ok 5064 bytes written\n")).toEqual({ rc: 0, status: "ok 5064 bytes written" });
    expect(parsePoll("")).toEqual({ rc: undefined, status: "" });
  });

  it("says what a failure left in the partition, by flashcfg's exit code", () => {
    expect(flashcfgFailureHint(1, false)).toMatch(/refused before erasing: the partition is as it was/);
    expect(flashcfgFailureHint(5, false)).toMatch(/as it was/);
    expect(flashcfgFailureHint(4, false)).toMatch(/half-written .*Do not power-cycle the board: run kiln flash or kiln restore again first/);
    expect(flashcfgFailureHint(1, true)).toMatch(/vendor's flashcfg gives no detail/);
  });
});
