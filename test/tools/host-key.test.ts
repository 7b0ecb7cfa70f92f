import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { announcedHostKey, ensureHostKey, hostKeyOfRamdisk, parseDropbearEd25519, publicBlob } from "../../src/rootfs/host-key.js";

describe("the build's SSH host key", () => {
  it("is made once per build directory, private, and kept across rebuilds", async () => {
    const out = mkdtempSync(join(tmpdir(), "kiln-hostkey-"));
    const a = await ensureHostKey(out);
    const b = await ensureHostKey(out);
    expect(b).toEqual(a);
    expect(statSync(a.file).mode & 0o777).toBe(0o600);
    const other = await ensureHostKey(mkdtempSync(join(tmpdir(), "kiln-hostkey-")));
    expect(other.fingerprint).not.toBe(a.fingerprint);
  });

  it("is in dropbear's format, and its fingerprint is the one ssh-keygen shows", async () => {
    const out = mkdtempSync(join(tmpdir(), "kiln-hostkey-"));
    const key = await ensureHostKey(out);
    const raw = readFileSync(key.file);
    expect(raw.subarray(0, 19)).toEqual(Buffer.from([0, 0, 0, 11, ...Buffer.from("ssh-ed25519"), 0, 0, 0, 64]));
    expect(raw.length).toBe(4 + 11 + 4 + 64);
    const { pub } = parseDropbearEd25519(raw);
    const pubFile = join(out, "key.pub");
    writeFileSync(pubFile, `ssh-ed25519 ${publicBlob(pub).toString("base64")} test\n`);
    const r = await execa("ssh-keygen", ["-l", "-E", "sha256", "-f", pubFile]);
    expect(r.stdout.split(" ")[1]).toBe(key.fingerprint);
  });

  it("is announced for the image its build made, and for no other", async () => {
    const out = mkdtempSync(join(tmpdir(), "kiln-hostkey-"));
    mkdirSync(join(out, "rootfs"));
    writeFileSync(join(out, "rootfs", "manifest.json"), JSON.stringify({ sshHostKey: "SHA256:x", files: { [join(out, "rootfs", "ramdisk.cpio")]: { sha256: "rd" } } }));
    // The image stage records the key only for the rootfs stage's own ramdisk.
    expect(await hostKeyOfRamdisk(out, "rd")).toBe("SHA256:x");
    expect(await hostKeyOfRamdisk(out, "another ramdisk")).toBeUndefined();
    writeFileSync(join(out, "manifest.json"), JSON.stringify({ image: { sha256: "aa" }, sshHostKey: "SHA256:x" }));
    expect(await announcedHostKey(out, "aa")).toBe("SHA256:x");
    expect(await announcedHostKey(out, "bb")).toBeUndefined();
    writeFileSync(join(out, "manifest.json"), JSON.stringify({ image: { sha256: "aa" }, sshHostKey: null }));
    expect(await announcedHostKey(out, "aa")).toBeUndefined();
  });
});
