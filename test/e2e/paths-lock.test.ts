/**
 * What a new user meets first: relative paths from any working directory, one
 * kiln at a time per output directory, and a failed `kiln config` that leaves
 * the last good .config in place (qemu-virt's tinyconfig: the quickest config).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { kiln, repoRoot, testWork } from "../support/cli.js";

interface ConfigStages {
  stages?: { stage: string; how: string }[];
}

describe("paths, the lock, and a failed kiln config", () => {
  const cwd = () => join(testWork(), "user-dir");
  const config = () => join(cwd(), "rel", "out", "kernel", ".config");

  beforeAll(() => {
    mkdirSync(cwd(), { recursive: true });
    writeFileSync(join(cwd(), "mine.config"), "CONFIG_VETH=y\n");
    writeFileSync(join(cwd(), "broken.config"), "CONFIG_VETH=y\nthis is not a config line\n");
  });

  it("--out and --fragment relative to the directory kiln runs in", async () => {
    const r = await kiln(["config", "--board", "qemu-virt", "--out", "rel/out", "--fragment", "mine.config"], { cwd: cwd() });
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`config: ${config()}`);
    expect(readFileSync(config(), "utf8")).toMatch(/^CONFIG_VETH=y$/m);
    expect(existsSync(join(repoRoot, "rel"))).toBe(false);
  }, 300_000);

  it("a fragment with a bad line fails and leaves .config byte for byte; the next run is up to date", async () => {
    const before = readFileSync(config());
    const bad = await kiln(["config", "--board", "qemu-virt", "--out", "rel/out", "--fragment", "./broken.config"], { cwd: cwd() });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/broken\.config:2: not a kernel config line/);
    expect(readFileSync(config()).equals(before)).toBe(true);
    const again = await kiln(["config", "--board", "qemu-virt", "--out", "rel/out", "--fragment", "mine.config"], { cwd: cwd() });
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/^config +up to date, skipped$/m);
  }, 300_000);

  it("a second kiln on a locked output directory is refused at once, naming the holder", async () => {
    const holder = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      writeFileSync(join(cwd(), "rel", "out", ".kiln.lock"), JSON.stringify({ pid: holder.pid, command: "kiln build --board qemu-virt", since: new Date().toISOString() }));
      const r = await kiln(["config", "--board", "qemu-virt", "--out", "rel/out"], { cwd: cwd() });
      expect(r.exitCode).toBe(75);
      expect(r.stderr).toContain(`is in use by another kiln: PID ${String(holder.pid)} (kiln build --board qemu-virt)`);
    } finally {
      holder.kill();
    }
    // Its holder gone, the lock is taken over.
    await new Promise((r) => setTimeout(r, 200));
    const r = await kiln(["config", "--board", "qemu-virt", "--out", "rel/out", "--fragment", "mine.config", "--json"], { cwd: cwd() });
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(cwd(), "rel", "out", ".kiln.lock"))).toBe(false);
  }, 300_000);

  it("--config, --identity and --inventory (and a key named inside it) relative to the working directory", async () => {
    const c = await kiln(["check", "--config", "rel/out/kernel/.config", "--json"], { cwd: cwd() });
    expect(c.stdout).toContain(`"config": "${config()}"`);
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(cwd(), "id_test")]);
    // Port 1 on loopback refuses at once: what matters is that the key file was found and read.
    const h = await kiln(["check", "--host", "127.0.0.1", "--port", "1", "--identity", "id_test", "--no-proof"], { cwd: cwd() });
    expect(h.stderr).toMatch(/cannot connect to root@\[127\.0\.0\.1\]:1/);
    writeFileSync(join(cwd(), "boards.yaml"), "- { host: 127.0.0.1, port: 1, identity: id_test }\n");
    const d = await kiln(["deploy", "--inventory", "boards.yaml", "--dry-run", "--json"], { cwd: cwd() });
    expect(`${d.stdout}${d.stderr}`).toMatch(/cannot connect to root@\[127\.0\.0\.1\]:1/);
    expect(`${d.stdout}${d.stderr}`).not.toMatch(/ENOENT|no such file/i);
  }, 120_000);
});

export type { ConfigStages };
