/** Root's password: a random salt, the same line again for the same password on this machine, and nothing guessable recorded. */
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { StageLog } from "../../src/exec.js";
import { rootPasswordHash } from "../../src/rootfs/root-password.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-pw-"));
const log = new StageLog(join(dir, "pw.log"));

describe("root's password hash", () => {
  it("is SHA-512 crypt that checks against the password, salted at random per machine", async () => {
    const a = await rootPasswordHash("s3cret pass", "qemu-virt", log, join(dir, "one"));
    const b = await rootPasswordHash("s3cret pass", "qemu-virt", log, join(dir, "two"));
    expect(a.hash).toMatch(/^\$6\$[^$]+\$/);
    // Two machines (state directories): two salts.
    expect(a.hash.split("$")[2]).not.toBe(b.hash.split("$")[2]);
    // openssl checks the line against the password with the line's own salt.
    const salt = a.hash.split("$")[2] ?? "";
    const again = await execa("openssl", ["passwd", "-6", "-salt", salt, "-stdin"], { input: "s3cret pass\n" });
    expect(again.stdout.trim()).toBe(a.hash);
    expect(statSync(join(dir, "one", "root-passwords.json")).mode & 0o077).toBe(0);
    expect(statSync(join(dir, "one", "password-secret")).mode & 0o077).toBe(0);
  });

  it("gives the same line for the same password and board on one machine (reproducible rebuilds), a new one otherwise", async () => {
    const d = join(dir, "three");
    const first = await rootPasswordHash("pw", "qemu-virt", log, d);
    expect(await rootPasswordHash("pw", "qemu-virt", log, d)).toEqual(first);
    const other = await rootPasswordHash("pw2", "qemu-virt", log, d);
    expect(other.key).not.toBe(first.key);
    expect(other.hash).not.toBe(first.hash);
    expect((await rootPasswordHash("pw", "openblocks-ax3", log, d)).key).not.toBe(first.key);
  });

  it("records a keyed hash, not the crypt line nor anything of the password", async () => {
    const r = await rootPasswordHash("hunter2", "qemu-virt", log, join(dir, "four"));
    expect(r.key).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(r.key).not.toContain(r.hash);
  });
});
