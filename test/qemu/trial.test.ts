/**
 * Try before commit, on the emulated board: kexec into the new image with the
 * watchdog armed, check it, and only then write flash. Every way a trial can go
 * wrong must bring the board back on the image in flash, with the flash file
 * byte for byte as it was.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln, testWork } from "../support/cli.js";
import { e2eKey as key } from "../support/e2e-key.js";
import { buildNoIpcNs, buildVirt, repack, startVirt, stateEnv, stopVirt, consoleLog as virtConsoleLog, flashFile as virtFlashFile, virtImage as image, virtOut as out } from "../support/virt-board.js";

const instance = "trial";
const flashFile = () => virtFlashFile(instance);
const consoleLog = () => virtConsoleLog(instance);
const flashSha = () => createHash("sha256").update(readFileSync(flashFile())).digest("hex");

interface FlashJson {
  results: { host: string; ok: boolean; flashcfg?: string; error?: string; notAttempted?: string; steps: string[]; trial?: { tried: boolean; why?: string } }[];
}

let port: number;

/** A gzip cpio holding only /init: appended to the ramdisk, it replaces the real /init (later archives win). */
async function initOverride(name: string, script: string): Promise<Buffer> {
  const dir = join(testWork(), `${name}-init`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "init"), script, { mode: 0o755 });
  const cpio = await execa("sh", ["-c", "find init | cpio -o -H newc --quiet"], { cwd: dir, encoding: "buffer" });
  return gzipSync(cpio.stdout);
}

async function flash(img: string, ...extra: string[]) {
  const r = await kiln(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${port}`, "--identity", key, "--image", img, "--out", out, "--try-deadline", "90", "--reboot-timeout", "400", "--json", ...extra], {
    env: stateEnv(),
  });
  return { ...r, json: JSON.parse(r.stdout || "{}") as FlashJson };
}

describe("kiln flash tries the image from RAM first", () => {
  beforeAll(async () => {
    await buildVirt(out);
    ({ port } = await startVirt(instance, image));
    // The proof of the failing-proof case: a known host key for the board before the trials start.
    await kiln(["probe", "--host", "127.0.0.1", "--port", String(port), "--identity", key, "--accept-new-host-key", "--json"], { env: stateEnv() });
  }, 3_600_000);

  afterAll(async () => {
    await stopVirt(instance);
  });

  it("a ramdisk whose /init exits panics the trial kernel: the board comes back on the old image, flash untouched", async () => {
    const extra = await initOverride("exits", "#!/bin/sh\necho 'kiln-test: this /init exits'\nexit 1\n");
    const bad = await repack(image, "panics", (rd) => Buffer.concat([rd, extra]));
    const before = flashSha();
    const from = consoleLog().length;
    const r = await flash(bad);
    expect(r.exitCode).not.toBe(0);
    expect(r.json.results[0]?.error).toMatch(/^trial failed: the trial system never answered: the board came back on the image in flash.*; flash untouched/);
    expect(flashSha()).toBe(before);
    expect(consoleLog().slice(from)).toMatch(/Kernel panic - not syncing: Attempted to kill init/);
  }, 1_200_000);

  it("a trial whose user space hangs before SSH comes up is reset by the watchdog, flash untouched", async () => {
    const extra = await initOverride("hangs", "#!/bin/sh\necho 'kiln-test: this /init hangs'\nexec sleep 100000\n");
    const bad = await repack(image, "hangs", (rd) => Buffer.concat([rd, extra]));
    const before = flashSha();
    const from = consoleLog().length;
    // A short deadline: this trial never answers, and the wait for the watchdog is the test's cost.
    const r = await flash(bad, "--try-deadline", "45");
    expect(r.exitCode).not.toBe(0);
    expect(r.json.results[0]?.error).toMatch(/^trial failed: the trial system never answered.*; flash untouched/);
    expect(flashSha()).toBe(before);
    const after = consoleLog().slice(from);
    expect(after).toMatch(/kiln-test: this \/init hangs/);
    expect(after).not.toMatch(/Kernel panic/);
    // U-Boot ran again after the hang: the watchdog reset the machine.
    expect(after.slice(after.indexOf("kiln-test: this /init hangs"))).toMatch(/U-Boot 20\d\d/);
  }, 1_200_000);

  it("an image that boots but fails the container proof (IPC_NS off) is rebooted by kiln, flash untouched", async () => {
    const broken = await buildNoIpcNs();
    const before = flashSha();
    const args = ["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${port}`, "--identity", key, "--out", broken, "--try-deadline", "90", "--reboot-timeout", "400", "--json"];
    // That build has a host key of its own: without --replace-host-key it may not replace the pinned one, refused before anything.
    const refused = await kiln(args, { env: stateEnv() });
    expect(refused.exitCode).not.toBe(0);
    expect((JSON.parse(refused.stdout) as FlashJson).results[0]?.error).toMatch(/^the image brings its own SSH host key SHA256:\S+, and 127\.0\.0\.1 is pinned with SHA256:/);
    expect(refused.stderr).toMatch(/--replace-host-key/);
    expect(flashSha()).toBe(before);
    const r = await kiln([...args, "--replace-host-key"], { env: stateEnv() });
    const res = JSON.parse(r.stdout) as FlashJson;
    expect(r.exitCode).not.toBe(0);
    expect(res.results[0]?.error).toMatch(/^trial failed: the trial system failed the check: .*Ipc namespace.*; flash untouched/);
    expect(res.results[0]?.steps).toContain("trial: rebooting the board into the image in flash");
    expect(flashSha()).toBe(before);
  }, 3_600_000);

  it("canary: three targets, the first failing: with --canary 1 the other two are never touched", async () => {
    const good = await repack(image, "canary", (rd) => rd);
    const before = flashSha();
    // Three different boards (the same one twice is refused before anything, see qemu-board.test.ts):
    // the canary does not answer, the board, and an address where nothing listens.
    const r = await kiln(
      ["flash", "--board", "qemu-virt", "--host", "127.0.0.1:1", "--host", `127.0.0.1:${port}`, "--host", `127.0.0.2:${port}`, "--identity", key, "--image", good, "--out", out, "--canary", "1", "--json"],
      { env: stateEnv() },
    );
    expect(r.exitCode).not.toBe(0);
    const res = JSON.parse(r.stdout) as FlashJson;
    expect(res.results.map((o) => [o.ok, o.notAttempted !== undefined])).toEqual([[false, false], [false, true], [false, true]]);
    expect(r.stderr).toMatch(/1 of 3 board\(s\) failed; 2 never attempted/);
    expect(flashSha()).toBe(before);
  }, 300_000);

  it("kiln flash, as a user runs it: a good image is tried, then flashed from the trial system by kiln's flashcfg, then boots from flash and passes the check", async () => {
    const good = await repack(image, "good", (rd) => rd);
    const from = consoleLog().length;
    const r = await flash(good);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.json.results[0]?.error, `${r.stderr.slice(-3000)}\n--- console ---\n${consoleLog().slice(-6000)}`).toBeUndefined();
    expect(r.json.results[0]).toMatchObject({ ok: true, flashcfg: "kiln" });
    expect(r.exitCode).toBe(0);
    const steps = r.json.results[0]?.steps ?? [];
    expect(r.json.results[0]?.trial?.tried).toBe(true);
    expect(steps.some((s) => /^trial: the new image is up/.test(s))).toBe(true);
    expect(steps).toContain("flashcfg wrote the image (from the trial system)");
    expect(steps).toContain("kiln check passed");
    expect(readFileSync(flashFile()).subarray(0, 64).equals(readFileSync(good).subarray(0, 64))).toBe(true);
    const after = consoleLog().slice(from);
    // The trial's /init armed the watchdog; then U-Boot booted the new image from flash.
    expect(after).toMatch(/kiln: trial boot [0-9a-f]+: the watchdog resets the board unless kiln confirms this system within 90 s/);
    // The board's trialCmdline reached the trial kernel: its watchdog driver kept the deadline instead of its 30 s default.
    expect(after).toMatch(/i6300ESB[^\n]*initialized\. heartbeat=90 sec/);
    expect(after).toMatch(/Image Name:\s+KILNVIRT good/);
    expect(existsSync(flashFile())).toBe(true);
  }, 1_800_000);
});
