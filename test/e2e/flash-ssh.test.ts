/**
 * `kiln flash` and `kiln check --host` against Debian's real OpenSSH server on
 * loopback, standing in for a board (test/support/sshd.ts): host-key trust, the
 * pre-flight refusals, a cut upload, a lying checksum, a failing flashcfg and a
 * board that never comes back. Every case looks at what happened on the "board"
 * (the fake root's traces), not only at kiln's exit code.
 */
import { boardLogName } from "../../src/remote/fleet.js";
import { createHash, createPrivateKey, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { execa } from "execa";
import { utils } from "ssh2";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { kiln, type KilnRun, testWork } from "../support/cli.js";
import { all, type Case, hostId, knownHosts, newCase, trust } from "../support/ssh-case.js";
import { freePort, QEMU_VIRT_MODEL, type Sshd, startSshd } from "../support/sshd.js";
import { startTcpProxy } from "../support/tcp-proxy.js";

let sshd: Sshd;
let work: string;
let image: string;
let savedAgent: string | undefined;

const freshCase = (name: string): Case => newCase(work, name);

function flash(c: Case, hosts: string[], ...extra: string[]): Promise<KilnRun> {
  return kiln(
    [
      "flash", "--board", "qemu-virt", ...hosts.flatMap((h) => ["--host", h]),
      "--identity", sshd.clientKey, "--image", image, "--out", c.out, "--remote-dir", sshd.board.uploadDir, ...extra,
    ],
    { env: { KILN_STATE_DIR: c.state } },
  );
}

/** flashcfg's arguments for the uploaded image: a private directory of its own (the stand-in is the vendor's: no -s). */
const escapeRe = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const uploadedAs = (): string => expect.stringMatching(new RegExp(`^-y -f ${escapeRe(sshd.board.uploadDir)}/kiln-upload\\.\\w+/${escapeRe(basename(image))}$`)) as unknown as string;

async function makeImage(dir: string, bytes: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const out = join(dir, "uImage.test");
  // Shaped as qemu-virt's image (gzip kernel, gzip ramdisk, DTB, by their magic): kiln flash compares the header with the board.
  const part = (name: string, magic: number[], size: number) => {
    const f = join(dir, name);
    writeFileSync(f, Buffer.concat([Buffer.from(magic), randomBytes(size - magic.length)]));
    return f;
  };
  const parts = [part("kernel", [0x1f, 0x8b], Math.floor(bytes / 2)), part("ramdisk", [0x1f, 0x8b], Math.floor(bytes / 2)), part("dtb", [0xd0, 0x0d, 0xfe, 0xed], 1024)];
  await execa("mkimage", ["-A", "arm", "-O", "linux", "-T", "multi", "-C", "gzip", "-a", "0x40008000", "-e", "0x40008000", "-n", "KILNVIRT test", "-d", parts.join(":"), out]);
  return out;
}

beforeAll(async () => {
  // kiln would offer keys from an agent; these tests must depend on --identity alone.
  savedAgent = process.env.SSH_AUTH_SOCK;
  delete process.env.SSH_AUTH_SOCK;
  work = mkdtempSync(join(testWork(), "flash-ssh-"));
  // Big enough that an upload is many SFTP writes, so a cut lands in the middle of it.
  image = await makeImage(join(work, "image"), 3_000_000);
  sshd = await startSshd();
});

afterAll(async () => {
  await sshd?.stop();
  if (savedAgent !== undefined) process.env.SSH_AUTH_SOCK = savedAgent;
});

beforeEach(() => sshd.board.reset());

describe("kiln flash over SSH to a stand-in board", () => {
  it("refuses an unknown host key with its fingerprint, trusts it once when told, then knows it", async () => {
    const c = freshCase("unknown-key");
    const target = `127.0.0.1:${sshd.port}`;

    const refused = await flash(c, [target], "--dry-run");
    expect(refused.exitCode, all(refused)).not.toBe(0);
    // kiln's fingerprint must be the one OpenSSH shows for the same key (ssh-keygen -lf, or the board's console).
    expect(refused.stderr).toContain(sshd.hostKeyFingerprint);
    expect(refused.stderr).toContain("--accept-new-host-key");
    expect(knownHosts(c)[hostId(sshd.port)]).toBeUndefined();

    const check = await kiln(["check", "--host", "127.0.0.1", "--port", String(sshd.port), "--identity", sshd.clientKey, "--no-proof", "--out", c.out], {
      env: { KILN_STATE_DIR: c.state },
    });
    expect(check.exitCode, all(check)).not.toBe(0);
    expect(check.stderr).toContain(sshd.hostKeyFingerprint);
    expect(check.stderr).toContain("--accept-new-host-key");

    const accepted = await flash(c, [target], "--dry-run", "--accept-new-host-key");
    expect(accepted.exitCode, all(accepted)).toBe(0);
    expect(accepted.stdout).toContain(`board identity: ${QEMU_VIRT_MODEL}`);
    expect(accepted.stdout).toMatch(/image fits mtd1 "image"/);
    expect(accepted.stdout).toContain(`would upload to a private directory in ${sshd.board.uploadDir}`);
    expect(accepted.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${sshd.port}\\s+dry run ok$`, "m"));
    expect(knownHosts(c)).toEqual({ [hostId(sshd.port)]: sshd.hostKeyFingerprint });
    // The pin is OpenSSH's known_hosts: ssh itself, strict, trusts the board through kiln's file.
    const viaSsh = await execa("ssh", ["-i", sshd.clientKey, "-p", String(sshd.port), "-o", `UserKnownHostsFile=${join(c.state, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes",
      "-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "root@127.0.0.1", "true"], { reject: false });
    expect(viaSsh.exitCode, viaSsh.stderr).toBe(0);
    expect(sshd.board.uploads()).toEqual([]);
    expect(sshd.board.flashcfgCalls()).toEqual([]);
    expect(sshd.board.rebootCalls()).toBe(0);

    const again = await flash(c, [target], "--dry-run", "--json");
    expect(again.exitCode, all(again)).toBe(0);
    const j = JSON.parse(again.stdout) as { dryRun: boolean; results: { host: string; ok: boolean }[] };
    expect(j.dryRun).toBe(true);
    expect(j.results).toEqual([expect.objectContaining({ host: target, ok: true })]);
    expect(sshd.board.uploads()).toEqual([]);
  });

  it("trusts the keys of the user's own known_hosts (hashed, as ssh-keyscan -H writes them) and refuses a different one there", async () => {
    const c = freshCase("user-known-hosts");
    const dir = join(c.state, "..");
    const userKh = join(dir, "user_known_hosts");
    const cfg = join(dir, "ssh_config");
    writeFileSync(cfg, `Host 127.0.0.1\n  UserKnownHostsFile ${userKh}\n  GlobalKnownHostsFile /dev/null\n`);
    const scanned = await execa("ssh-keyscan", ["-H", "-t", "ed25519", "-p", String(sshd.port), "127.0.0.1"]);
    writeFileSync(userKh, scanned.stdout);
    expect(scanned.stdout).toMatch(/^\|1\|/);

    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--dry-run", "--ssh-config", cfg);
    expect(r.exitCode, all(r)).toBe(0);
    // Trusted from the user's file, not copied into kiln's.
    expect(knownHosts(c)).toEqual({});

    const other = await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "other_key")]);
    expect(other.exitCode).toBe(0);
    writeFileSync(userKh, `[127.0.0.1]:${sshd.port} ${readFileSync(join(dir, "other_key.pub"), "utf8")}`);
    const changed = await flash(c, [`127.0.0.1:${sshd.port}`], "--dry-run", "--ssh-config", cfg, "--accept-new-host-key");
    expect(changed.exitCode, all(changed)).not.toBe(0);
    expect(changed.stderr).toContain(`CHANGED: it is now ${sshd.hostKeyFingerprint}, ${userKh} has SHA256:`);
  });

  it("offers keys as ssh does: every IdentityFile in turn, a key that needs a passphrase left to the ssh agent", async () => {
    const c = freshCase("identities");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    const dir = join(c.state, "..");
    const stranger = join(dir, "stranger_key");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger]);
    // The authorised key again, but under a passphrase: kiln cannot open it itself.
    const locked = join(dir, "locked_key");
    writeFileSync(locked, readFileSync(sshd.clientKey), { mode: 0o600 });
    await execa("ssh-keygen", ["-q", "-p", "-P", "", "-N", "a passphrase", "-f", locked]);
    const cfg = (...keys: string[]) => {
      const file = join(dir, `ssh_config_${keys.length}_${basename(keys.at(-1) ?? "none")}`);
      writeFileSync(file, `Host 127.0.0.1\n${keys.map((k) => `  IdentityFile ${k}\n`).join("")}`);
      return file;
    };
    const dry = (config: string, env: Record<string, string> = {}) =>
      kiln(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${sshd.port}`, "--image", image, "--out", c.out, "--remote-dir", sshd.board.uploadDir, "--dry-run", "--ssh-config", config],
        { env: { KILN_STATE_DIR: c.state, ...env } });

    // The first key is refused by the board, the second is the one: both are offered.
    const second = await dry(cfg(stranger, sshd.clientKey));
    expect(second.exitCode, all(second)).toBe(0);

    // Only a stranger and a locked key, no agent: no login, and the message says so.
    const none = await dry(cfg(stranger, locked));
    expect(none.exitCode, all(none)).not.toBe(0);
    expect(none.stderr).toMatch(/cannot connect to root@/);

    // The same with an agent that holds the key: the agent's key logs in.
    const agent = await execa("ssh-agent", ["-s"]);
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(agent.stdout)?.[1] ?? "";
    const pid = /SSH_AGENT_PID=(\d+);/.exec(agent.stdout)?.[1] ?? "";
    try {
      await execa("ssh-add", ["-q", sshd.clientKey], { env: { SSH_AUTH_SOCK: sock } });
      const viaAgent = await dry(cfg(stranger, locked), { SSH_AUTH_SOCK: sock });
      expect(viaAgent.exitCode, all(viaAgent)).toBe(0);
      // A named key under a passphrase is an error that says what to do, unless the agent can stand in.
      const named = await kiln(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${sshd.port}`, "--identity", locked, "--image", image, "--out", c.out, "--dry-run"], { env: { KILN_STATE_DIR: c.state } });
      expect(named.exitCode, all(named)).not.toBe(0);
      expect(named.stderr).toMatch(/--identity .*locked_key: .*passphrase/);
      expect(named.stderr).toMatch(/ssh-add/);
      const namedWithAgent = await kiln(["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${sshd.port}`, "--identity", locked, "--image", image, "--out", c.out, "--dry-run"], { env: { KILN_STATE_DIR: c.state, SSH_AUTH_SOCK: sock } });
      expect(namedWithAgent.exitCode, all(namedWithAgent)).toBe(0);
    } finally {
      if (pid) process.kill(Number(pid));
    }
  });

  it("refuses a changed host key, even with --accept-new-host-key", async () => {
    // Its own server: restarting with a new key must not disturb the other cases.
    const other = await startSshd();
    try {
      const c = freshCase("changed-key");
      const oldKey = other.hostKeyFingerprint;
      trust(c, { [hostId(other.port)]: other.hostPublicKey });
      const args = ["flash", "--board", "qemu-virt", "--host", `127.0.0.1:${other.port}`, "--identity", other.clientKey, "--image", image,
        "--out", c.out, "--remote-dir", other.board.uploadDir, "--dry-run"];
      const before = await kiln(args, { env: { KILN_STATE_DIR: c.state } });
      expect(before.exitCode, all(before)).toBe(0);

      await other.restartWithNewHostKey();
      expect(other.hostKeyFingerprint).not.toBe(oldKey);
      const r = await kiln([...args, "--accept-new-host-key"], { env: { KILN_STATE_DIR: c.state } });
      expect(r.exitCode, all(r)).not.toBe(0);
      expect(r.stderr).toContain("CHANGED");
      expect(r.stderr).toContain(other.hostKeyFingerprint);
      expect(r.stderr).toContain(oldKey);
      expect(knownHosts(c)).toEqual({ [hostId(other.port)]: oldKey });

      const check = await kiln(["check", "--host", "127.0.0.1", "--port", String(other.port), "--identity", other.clientKey, "--no-proof",
        "--accept-new-host-key", "--out", c.out], { env: { KILN_STATE_DIR: c.state } });
      expect(check.exitCode, all(check)).not.toBe(0);
      expect(check.stderr).toContain("CHANGED");
      expect(knownHosts(c)).toEqual({ [hostId(other.port)]: oldKey });
    } finally {
      await other.stop();
    }
  });

  it("a connection cut in the middle of the upload flashes nothing and says the upload was interrupted", async () => {
    const proxy = await startTcpProxy(sshd.port);
    try {
      const c = freshCase("cut-upload");
      trust(c, { [hostId(proxy.port)]: sshd.hostPublicKey });
      const target = `127.0.0.1:${proxy.port}`;
      // Everything kiln sends before the upload, measured: the cut then lands a known distance into the image.
      const dry = await flash(c, [target], "--dry-run");
      expect(dry.exitCode, all(dry)).toBe(0);
      const beforeUpload = proxy.lastConnectionBytes();
      expect(beforeUpload).toBeGreaterThan(0);
      proxy.cutAfter(beforeUpload + 1_000_000);

      const r = await flash(c, [target], "--no-check", "--reboot-timeout", "5");
      expect(r.exitCode, all(r)).not.toBe(0);
      expect(proxy.cuts()).toBe(1);
      expect(r.stderr).toMatch(/upload to .* was interrupted/);
      expect(r.stderr).toMatch(/nothing was flashed/);
      expect(sshd.board.flashcfgCalls()).toEqual([]);
      expect(sshd.board.rebootCalls()).toBe(0);
      // Whatever stayed behind (kiln could not remove it over the cut link) is a private
      // directory holding only the partial file, and it is short: the cut was mid-way.
      for (const dir of sshd.board.uploads()) {
        expect(dir).toMatch(/^kiln-upload\.\w+$/);
        expect(statSync(join(sshd.board.uploadDir, dir)).mode & 0o777).toBe(0o700);
        for (const name of readdirSync(join(sshd.board.uploadDir, dir))) {
          expect(name).toBe(`.${basename(image)}.part`);
          expect(statSync(join(sshd.board.uploadDir, dir, name)).mode & 0o777).toBe(0o600);
          expect(statSync(join(sshd.board.uploadDir, dir, name)).size).toBeLessThan(statSync(image).size);
        }
      }
    } finally {
      await proxy.close();
    }
  });

  it("a link that goes silent in the middle of the upload (a board that lost power: no FIN) fails that board, nothing flashed", async () => {
    const proxy = await startTcpProxy(sshd.port);
    try {
      const c = freshCase("frozen-upload");
      trust(c, { [hostId(proxy.port)]: sshd.hostPublicKey });
      const target = `127.0.0.1:${proxy.port}`;
      const dry = await flash(c, [target], "--dry-run");
      expect(dry.exitCode, all(dry)).toBe(0);
      proxy.freezeAfter(proxy.lastConnectionBytes() + 1_000_000);

      // Without keepalives and the upload's own limit this would wait for the test's timeout.
      const r = await flash(c, [target], "--no-check", "--reboot-timeout", "5");
      expect(r.exitCode, all(r)).not.toBe(0);
      expect(proxy.cuts()).toBe(1);
      expect(r.stderr).toMatch(/upload to .* was interrupted: (the connection closed|the upload stalled)/);
      expect(r.stderr).toMatch(/nothing was flashed/);
      expect(sshd.board.flashcfgCalls()).toEqual([]);
      expect(sshd.board.rebootCalls()).toBe(0);
    } finally {
      await proxy.close();
    }
  }, 150_000);

  it("sends the bytes its pre-flight checked, even when the image file is rewritten during the upload", async () => {
    const proxy = await startTcpProxy(sshd.port);
    try {
      const c = freshCase("rewritten");
      trust(c, { [hostId(proxy.port)]: sshd.hostPublicKey });
      const local = join(c.state, "..", "image.uImage");
      copyFileSync(image, local);
      const checked = readFileSync(local);
      const target = `127.0.0.1:${proxy.port}`;
      const args = ["flash", "--board", "qemu-virt", "--host", target, "--identity", sshd.clientKey, "--image", local, "--out", c.out, "--remote-dir", sshd.board.uploadDir, "--no-check", "--reboot-timeout", "5"];
      const dry = await kiln([...args, "--dry-run"], { env: { KILN_STATE_DIR: c.state } });
      expect(dry.exitCode, all(dry)).toBe(0);
      proxy.holdAfter(proxy.lastConnectionBytes() + 1_000_000);

      const run = kiln(args, { env: { KILN_STATE_DIR: c.state } });
      while (!proxy.holding()) await new Promise((r) => setTimeout(r, 50));
      // A rebuild lands mid-upload: other bytes under the same name.
      writeFileSync(local, randomBytes(checked.length));
      proxy.release();
      const r = await run;
      // The stand-in never reboots: the run ends waiting for that, after the write.
      expect(r.stdout, all(r)).toContain("flashcfg wrote the image");
      expect(sshd.board.flashcfgCalls()).toHaveLength(1);
      expect(createHash("sha256").update(sshd.board.flashed() ?? Buffer.alloc(0)).digest("hex")).toBe(createHash("sha256").update(checked).digest("hex"));
    } finally {
      await proxy.close();
    }
  });

  it("refuses an upload whose sha256 on the board does not match, and never runs flashcfg", async () => {
    const c = freshCase("bad-sum");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.lieAboutSha256();
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--no-check", "--reboot-timeout", "5");
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stderr).toMatch(/checksum mismatch after upload: board has 0{64}, the checked image is [0-9a-f]{64}/);
    expect(sshd.board.flashcfgCalls()).toEqual([]);
    expect(sshd.board.rebootCalls()).toBe(0);
    // Neither the final name nor the partial file is left to be flashed by hand.
    expect(sshd.board.uploads()).toEqual([]);
  });

  it("reports flashcfg's failure with its output and does not reboot the board", async () => {
    const c = freshCase("flashcfg-fails");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.failFlashcfg(1, "flashcfg: checking image\nfile size exceeds MAX kernel SIZE\n");
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--no-check", "--reboot-timeout", "5", "--json");
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stderr).toContain("flashcfg exited 1");
    expect(r.stderr).toContain("file size exceeds MAX kernel SIZE");
    const j = JSON.parse(r.stdout) as { results: { ok: boolean; error?: string; steps: string[] }[] };
    expect(j.results[0]?.ok).toBe(false);
    expect(j.results[0]?.error).toContain("file size exceeds MAX kernel SIZE");
    expect(j.results[0]?.steps.some((s) => /waiting for the board/.test(s))).toBe(false);
    expect(sshd.board.flashcfgCalls()).toEqual([uploadedAs()]);
    expect(sshd.board.rebootCalls()).toBe(0);
    // The upload is removed also when flashcfg failed.
    expect(sshd.board.uploads()).toEqual([]);
  });

  it("reports a board that does not come back after the reboot", async () => {
    const c = freshCase("reboot-timeout");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    const started = Date.now();
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--reboot-timeout", "5", "--no-check");
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stderr).toMatch(/the board did not come back within 5 s after reboot \(last: still the same boot\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(5000);
    // Everything before the reboot happened, with the verified image under its final name.
    expect(sshd.board.flashcfgCalls()).toEqual([uploadedAs()]);
    expect(sshd.board.flashed()?.equals(readFileSync(image))).toBe(true);
    // flashcfg had the file; it was removed before the reboot.
    expect(sshd.board.uploads()).toEqual([]);
    expect(sshd.board.rebootCalls()).toBe(1);
  });

  it("refuses a board of another model before uploading, saying what it found and expected", async () => {
    const c = freshCase("wrong-model");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setModel("Something Else");
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--no-check", "--reboot-timeout", "5");
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stderr).toContain(`found "Something Else", expected "${QEMU_VIRT_MODEL}"`);
    expect(sshd.board.uploads()).toEqual([]);
    expect(sshd.board.flashcfgCalls()).toEqual([]);
    expect(sshd.board.rebootCalls()).toBe(0);
  });

  it("refuses a board without the image partition, naming what /proc/mtd shows", async () => {
    const c = freshCase("no-partition");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setMtd('dev:    size   erasesize  name\nmtd0: 00100000 00010000 "u-boot"\nmtd1: 00020000 00010000 "u-boot-env"\n');
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--no-check", "--reboot-timeout", "5");
    expect(r.exitCode, all(r)).not.toBe(0);
    expect(r.stderr).toContain('no flash partition "image"');
    expect(r.stderr).toContain('/proc/mtd shows: mtd0 "u-boot", mtd1 "u-boot-env"');
    expect(sshd.board.uploads()).toEqual([]);
    expect(sshd.board.flashcfgCalls()).toEqual([]);
  });

  describe("with two boards, one unreachable", () => {
    const expectOneOfTwo = (r: KilnRun, good: number, dead: number) => {
      expect(r.exitCode, all(r)).not.toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${good}\\s+dry run ok$`, "m"));
      expect(r.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${dead}\\s+FAILED: cannot connect`, "m"));
      expect(r.stderr).toContain("1 of 2 board(s) failed");
      expect(sshd.board.uploads()).toEqual([]);
    };

    it("--host twice: the other still passes, the summary lists both, the exit code says failure", async () => {
      const c = freshCase("many");
      trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
      const dead = await freePort();
      expectOneOfTwo(await flash(c, [`127.0.0.1:${sshd.port}`, `127.0.0.1:${dead}`], "--dry-run"), sshd.port, dead);
    });

    it("--inventory: the same, from a file", async () => {
      const c = freshCase("inventory");
      trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
      const dead = await freePort();
      const inventory = join(c.state, "..", "boards.yaml");
      writeFileSync(inventory, `- {host: 127.0.0.1, port: ${sshd.port}}\n- {host: 127.0.0.1, port: ${dead}}\n`);
      expectOneOfTwo(await flash(c, [], "--inventory", inventory, "--dry-run"), sshd.port, dead);
    });
  });

  it("writes no key material or passwords to the per-host logs or the JSON output", async () => {
    expect(process.env.SSH_AUTH_SOCK).toBeUndefined();
    const c = freshCase("secrets");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    // A whole flash, reconnects included, so the logs hold as much as kiln ever writes.
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--no-check", "--reboot-timeout", "5", "--json");
    expect(sshd.board.flashcfgCalls().length, all(r)).toBe(1);
    const logDir = join(c.out, "logs");
    const logs = readdirSync(logDir).map((f) => readFileSync(join(logDir, f), "utf8"));
    expect(readdirSync(logDir)).toContain(boardLogName("flash", "127.0.0.1", sshd.port));
    // The log is not empty: it records the board's commands, so a leak would show up in it.
    expect(logs.join("")).toContain("sha256sum");

    const pem = readFileSync(sshd.clientKey, "utf8");
    const parsed = utils.parseKey(pem);
    if (parsed instanceof Error) throw parsed;
    const jwk = createPrivateKey(parsed.getPrivatePEM()).export({ format: "jwk" });
    const seed = Buffer.from(String(jwk.d), "base64url");
    const bodyLines = pem.split("\n").filter((l) => l.length > 0 && !l.startsWith("-----"));
    // The key as it could leak: the file, its decoded body, or the bare ed25519 seed, in any usual encoding.
    const encodings = (b: Buffer) => [b.toString("hex"), b.toString("base64").replace(/=+$/, ""), b.toString("base64url")].map((e) => e.slice(0, 40));
    const secrets = [...bodyLines, "PRIVATE KEY", ...[Buffer.from(pem), Buffer.from(bodyLines.join(""), "base64"), seed].flatMap(encodings)];
    for (const [where, text] of [...logs.map((l, i) => [`log ${i}`, l] as const), ["json", r.stdout] as const, ["stderr", r.stderr] as const]) {
      for (const s of secrets) expect(text.includes(s), `${where} contains key material (${s.slice(0, 12)}...)`).toBe(false);
      expect(text, where).not.toMatch(/password|passphrase|privateKey|"type":\s*"Buffer"/i);
    }
    const json = JSON.parse(r.stdout) as { results: { steps: string[]; timings: { step: string; seconds: number }[] }[] };
    // Every step has its duration, in the JSON and in the board's log; the upload says so once per tenth at most.
    const res = json.results[0];
    expect(res?.timings.map((t) => t.step)).toEqual(res?.steps);
    expect(readdirSync(logDir).map((f) => readFileSync(join(logDir, f), "utf8")).join("")).toMatch(/^# +\d+\.\d s {2}flashcfg wrote the image$/m);
    const uploading = res?.steps.filter((x) => x.startsWith("uploading ") && x.endsWith("%")) ?? [];
    expect(uploading.length).toBeGreaterThan(0);
    expect(uploading.length).toBeLessThanOrEqual(11);
  });

});

describe("kiln flash --backup and kiln restore", () => {
  const PART = 0x400000;
  const smallMtd = `dev:    size   erasesize  name\nmtd0: 00100000 00010000 "u-boot"\nmtd1: ${PART.toString(16).padStart(8, "0")} 00010000 "image"\n`;

  /** The partition as a board holds it: an older image, then erased flash. */
  async function partitionWithOldImage(): Promise<{ old: Buffer; dump: Buffer }> {
    const old = readFileSync(await makeImage(join(work, "old-image"), 100_000));
    return { old, dump: Buffer.concat([old, Buffer.alloc(PART - old.length, 0xff)]) };
  }

  function restore(c: Case, file: string, ...extra: string[]): Promise<KilnRun> {
    return kiln(
      ["restore", "--board", "qemu-virt", "--host", `127.0.0.1:${sshd.port}`, "--identity", sshd.clientKey, "--file", file,
        "--out", c.out, "--remote-dir", sshd.board.uploadDir, "--no-check", "--reboot-timeout", "5", ...extra],
      { env: { KILN_STATE_DIR: c.state } },
    );
  }

  it("--backup saves the whole partition with a sha256 sidecar before flashcfg, and restore flashes the image in it back", async () => {
    const c = freshCase("backup");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setMtd(smallMtd);
    const { old, dump } = await partitionWithOldImage();
    sshd.board.setDevice("mtd1", dump);

    // The stand-in board never reboots: the run ends at the reboot wait, after flashcfg.
    const r = await flash(c, [`127.0.0.1:${sshd.port}`], "--backup", "--no-check", "--reboot-timeout", "5", "--json");
    expect(r.stderr, all(r)).toMatch(/did not come back within 5 s/);
    const result = (JSON.parse(r.stdout) as { results: { steps: string[]; backup?: { file: string; sha256: string; bytes: number } }[] }).results[0];
    const backup = result?.backup;
    expect(backup?.file).toMatch(new RegExp(`/backup/127\\.0\\.0\\.1_${sshd.port}-image-\\d{8}T\\d{6}Z\\.bin$`));
    const file = backup?.file as string;
    expect(file.startsWith(join(c.out, "backup"))).toBe(true);
    expect(readFileSync(file).equals(dump)).toBe(true);
    expect(backup?.bytes).toBe(PART);
    expect(readFileSync(`${file}.sha256`, "utf8")).toBe(`${createHash("sha256").update(dump).digest("hex")}  ${basename(file)}\n`);
    const steps = result?.steps ?? [];
    const backedUp = steps.findIndex((s) => s.startsWith("backed up mtd1"));
    expect(backedUp, steps.join("\n")).toBeGreaterThan(-1);
    expect(backedUp).toBeLessThan(steps.indexOf("flashcfg wrote the image"));
    expect(sshd.board.flashed()?.equals(readFileSync(image))).toBe(true);

    const back = await restore(c, file);
    expect(back.stderr, all(back)).toMatch(/did not come back within 5 s/);
    expect(back.stderr).toContain("sha256 sidecar matches");
    const uploaded = `${basename(file, ".bin")}.uImage`;
    expect(sshd.board.flashcfgCalls().at(-1)).toMatch(new RegExp(`^-y -f ${escapeRe(sshd.board.uploadDir)}/kiln-upload\\.\\w+/${escapeRe(uploaded)}$`));
    // The image alone goes back, cut at the length its header announces: not the erased flash after it.
    expect(sshd.board.flashed()?.equals(old)).toBe(true);
  });

  it("--backup is checked before the erase: a dump restore could not put back, or one the board's sha256sum disagrees with, stops the flash", async () => {
    const c = freshCase("backup-checked");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    sshd.board.setMtd(smallMtd);

    // A partition with no image in it (a board whose flash was erased): the dump is true, but not a backup restore accepts.
    sshd.board.setDevice("mtd1", Buffer.alloc(PART, 0xff));
    const erased = await flash(c, [`127.0.0.1:${sshd.port}`], "--backup", "--no-check", "--json");
    expect(erased.exitCode, all(erased)).not.toBe(0);
    expect(erased.stderr).toMatch(/the backup of \/dev\/mtd1 is not one kiln restore could put back: .*only erased flash/);
    expect(erased.stderr).toMatch(/nothing was written to the board. The dump is kept/);
    const kept = readdirSync(join(c.out, "backup")).filter((f) => f.endsWith(".bin"));
    expect(kept).toHaveLength(1);

    // A read the board does not agree with: removed, never used.
    const { dump } = await partitionWithOldImage();
    sshd.board.setDevice("mtd1", dump);
    sshd.board.lieAboutSha256();
    const lied = await flash(c, [`127.0.0.1:${sshd.port}`], "--backup", "--no-check", "--json");
    expect(lied.exitCode, all(lied)).not.toBe(0);
    expect(lied.stderr).toMatch(/the backup of \/dev\/mtd1 does not match the partition: the board's sha256sum says/);
    expect(readdirSync(join(c.out, "backup")).filter((f) => f.endsWith(".bin"))).toEqual(kept);

    expect(sshd.board.flashcfgCalls()).toEqual([]);
    expect(sshd.board.uploads()).toEqual([]);
  });

  it("restore refuses a backup without a uImage, or one that does not match its sidecar, and sends nothing", async () => {
    const c = freshCase("restore-refused");
    trust(c, { [hostId(sshd.port)]: sshd.hostPublicKey });
    const dir = join(c.out, "backup");
    mkdirSync(dir, { recursive: true });

    const erased = join(dir, "erased.bin");
    writeFileSync(erased, Buffer.alloc(65536, 0xff));
    const r1 = await restore(c, erased);
    expect(r1.exitCode, all(r1)).not.toBe(0);
    expect(r1.stderr).toContain("does not start with a uImage header: it holds only erased flash");
    expect(r1.stderr).toContain("flashcp");

    const { dump } = await partitionWithOldImage();
    const damaged = join(dir, "damaged.bin");
    writeFileSync(damaged, dump);
    writeFileSync(`${damaged}.sha256`, `${"0".repeat(64)}  damaged.bin\n`);
    const r2 = await restore(c, damaged);
    expect(r2.exitCode, all(r2)).not.toBe(0);
    expect(r2.stderr).toContain("does not match its sha256 sidecar");

    expect(sshd.board.uploads()).toEqual([]);
    expect(sshd.board.flashcfgCalls()).toEqual([]);
  });
});
