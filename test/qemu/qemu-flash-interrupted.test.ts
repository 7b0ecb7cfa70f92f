/**
 * A flash on the emulated board whose user or link goes away while flashcfg
 * writes (Ctrl-C, a dropped link, a jump host), and the same board named twice.
 * The board's flash is watched from outside: the flash file QEMU writes.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln, kilnProcess, testWork } from "../support/cli.js";
import { e2eKey as key } from "../support/e2e-key.js";
import { startSshd } from "../support/sshd.js";
import { startTcpProxy } from "../support/tcp-proxy.js";
import { buildVirt, consoleLog, flashFile, repack, sshTo as ssh, startVirt as start, stateEnv, stopVirt as stop, virtImage as image, virtOut as out } from "../support/virt-board.js";

const instance = "interrupted";

describe("a flash whose user or link goes away while flashcfg writes", () => {
  let port: number;

  beforeAll(async () => {
    await buildVirt(out);
    ({ port } = await start(instance, image));
    // The board's host key pinned, as a user's first contact would (the Ctrl-C case does not accept new keys).
    const p = await kiln(["probe", "--host", "127.0.0.1", "--port", String(port), "--identity", key, "--accept-new-host-key", "--json"], { env: stateEnv() });
    if (p.exitCode !== 0) throw new Error(`kiln probe failed (${p.exitCode}):\n${p.stderr}`);
  }, 3_600_000);

  afterAll(async () => {
    await stop(instance);
  });

  // Watched on the board itself (not through kiln): flashcfg's own status file.
  async function untilWriting(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const r = await ssh(port, "cat", "/run/kiln-flashcfg.status");
      if (/ writing \d+ bytes/.test(r.stdout)) return;
      await new Promise((res) => setTimeout(res, 300));
    }
    throw new Error("flashcfg never started writing");
  }
  const flashHolds = (file: string) => {
    const img = readFileSync(file);
    return readFileSync(flashFile(instance)).subarray(0, img.length).equals(img);
  };

  it("Ctrl-C: kiln says the board is writing, waits, reports the written image and does not reboot; the flash holds it, and the board boots it", async () => {
    const third = await repack(image, "third");
    const boot = (await ssh(port, "cat", "/proc/sys/kernel/random/boot_id")).stdout;
    const p = kilnProcess(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${port}`, "--identity", key, "--image", third, "--out", out, "--no-try", "--no-check", "--json"], { env: stateEnv() });
    await untilWriting();
    p.kill("SIGINT");
    const r = await p;
    expect(String(r.stderr)).toMatch(/is writing its flash and must not lose power: kiln waits for flashcfg's outcome/);
    const res = JSON.parse(String(r.stdout)) as { results: { ok: boolean; error?: string }[] };
    expect(res.results[0]?.error).toMatch(/^interrupted: flashcfg on 127\.0\.0\.1 finished, the image is written and verified; not rebooted by kiln/);
    expect(r.exitCode).toBe(130);
    expect(flashHolds(third)).toBe(true);
    // Not rebooted: the same boot answers, and the upload was cleaned up.
    expect((await ssh(port, "cat", "/proc/sys/kernel/random/boot_id")).stdout).toBe(boot);
    expect((await ssh(port, "ls -d /tmp/kiln-upload.* 2>/dev/null; true")).stdout.trim()).toBe("");
    // Rebooted when it suits the user, the board boots the image the interrupted run let finish.
    await ssh(port, "(sleep 1; reboot) >/dev/null 2>&1 </dev/null &");
    let now = boot;
    for (let i = 0; i < 300 && (now === boot || now === ""); i++) {
      await new Promise((res) => setTimeout(res, 1000));
      now = (await ssh(port, "cat", "/proc/sys/kernel/random/boot_id")).stdout;
    }
    expect(now).not.toBe(boot);
    expect([...consoleLog(instance).matchAll(/Image Name:\s+(KILNVIRT \S+)/g)].map((m) => m[1]).at(-1)).toBe("KILNVIRT third");
  }, 900_000);

  it("a link that drops: kiln reconnects, reads flashcfg's outcome, reboots the board into the new image", async () => {
    const fourth = await repack(image, "fourth");
    const proxy = await startTcpProxy(port);
    try {
      const p = kilnProcess(
        ["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${proxy.port}`, "--identity", key, "--image", fourth, "--out", out, "--no-try", "--no-check", "--accept-new-host-key", "--reboot-timeout", "300", "--json"],
        { env: stateEnv() },
      );
      await untilWriting();
      proxy.cutAll();
      const r = await p;
      const res = JSON.parse(String(r.stdout)) as { results: { ok: boolean; error?: string; steps: string[] }[] };
      expect(res.results[0]?.error, `${String(r.stderr).slice(-3000)}`).toBeUndefined();
      expect(r.exitCode).toBe(0);
      expect(proxy.cuts()).toBe(1);
      const steps = res.results[0]?.steps ?? [];
      expect(steps.some((s) => /^the link to 127\.0\.0\.1 dropped while it writes flash/.test(s))).toBe(true);
      expect(steps).toContain("reconnected to 127.0.0.1: flashcfg still runs there");
      expect(steps).toContain("flashcfg wrote the image");
      expect(flashHolds(fourth)).toBe(true);
      expect(consoleLog(instance)).toMatch(/Image Name:\s+KILNVIRT fourth/);
    } finally {
      await proxy.close();
    }
  }, 900_000);

  it("through a jump host named only in an ssh config file (ProxyJump; a second sshd on loopback as the jump host)", async () => {
    const fifth = await repack(image, "fifth");
    const jump = await startSshd();
    try {
      const cfg = join(testWork(), "ssh_config");
      writeFileSync(
        cfg,
        [
          "Host lab-board",
          "  HostName 127.0.0.1",
          `  Port ${port}`,
          `  IdentityFile ${key}`,
          "  ProxyJump lab-gate",
          "Host lab-gate",
          "  HostName 127.0.0.1",
          `  Port ${jump.port}`,
          `  IdentityFile ${jump.clientKey}`,
          "",
        ].join("\n"),
      );
      const r = await kiln(["flash", "--board", "qemu-virt", "--host", "lab-board", "--ssh-config", cfg, "--image", fifth, "--out", out, "--no-try", "--no-check", "--accept-new-host-key", "--reboot-timeout", "300", "--json"], {
        env: stateEnv(),
      });
      const res = JSON.parse(r.stdout || "{}") as { results?: { ok: boolean; error?: string }[] };
      expect(res.results?.[0]?.error, `${r.stderr.slice(-3000)}\n--- jump sshd ---\n${jump.log()}`).toBeUndefined();
      expect(r.exitCode).toBe(0);
      // kiln logged in to the jump host (the board's SSH ran inside a channel it forwarded).
      expect(jump.log()).toMatch(/Accepted publickey for root from 127\.0\.0\.1/);
      expect(flashHolds(fifth)).toBe(true);
      expect(consoleLog(instance)).toMatch(/Image Name:\s+KILNVIRT fifth/);
    } finally {
      await jump.stop();
    }
  }, 900_000);

  it("the same board twice (two addresses, one host key) is refused before any upload", async () => {
    const before = readFileSync(flashFile(instance));
    // A second address of the one board: a forwarded port, as a name and an address would be.
    const proxy = await startTcpProxy(port);
    try {
      const r = await kiln(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${port}`, "--host", `127.0.0.1:${proxy.port}`, "--identity", key, "--image", image, "--out", out, "--json"], {
        env: stateEnv(),
      });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`the same board under different addresses: 127\\.0\\.0\\.1:${port} and 127\\.0\\.0\\.1:${proxy.port} \\(host key SHA256:`));
    } finally {
      await proxy.close();
    }
    expect(readFileSync(flashFile(instance)).equals(before)).toBe(true);
    expect((await ssh(port, "ls -d /tmp/kiln-upload.* 2>/dev/null; true")).stdout.trim()).toBe("");
  }, 120_000);
});
