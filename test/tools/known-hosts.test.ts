import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import {
  fingerprint, hostFieldMatches, hostId, hostKeyAlgorithms, judgeHostKey, loadKnownHosts, loadPins, parseKnownHosts, pinsFor, publicKeyLine, saveKnownHost,
} from "../../src/remote/known-hosts.js";

// A key made by ssh-keygen, its fingerprint as ssh-keygen -l printed it, and the same key under two
// names hashed by ssh-keygen -H ([192.0.2.7]:2222 and board-9): answers from OpenSSH, not from kiln.
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICFvAJ9RPNtjyDcEb/X2Xa9gLK9XYq1BmzCJ206PalHu";
const KEY_FP = "SHA256:slvMrgIpXrWTl/QaqXaiEl6S40Y91tVkzIz+bng1CUc";
const HASHED = [
  `|1|JImy/pN4utRqOecM33sl5wTzd5U=|hDuaAN9iWqo+AC/GJKaNzlT6X0U= ${KEY}`,
  `|1|oqmOlO3RUd2x4behw/X5/0zdpwg=|d3scbh4zIpA2hEQXEZ0eIGJwOgY= ${KEY}`,
].join("\n");
const blob = (line: string) => Buffer.from(line.split(" ")[1] ?? "", "base64");
const tmp = () => mkdtempSync(join(tmpdir(), "kiln-kh-"));

describe("host keys", () => {
  it("fingerprints and names keys and hosts as OpenSSH does", () => {
    expect(fingerprint(blob(KEY))).toBe(KEY_FP);
    expect(publicKeyLine(blob(KEY))).toBe(KEY);
    expect(hostId("board", 22)).toBe("board");
    expect(hostId("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });

  it("refuses an unknown key unless told to trust it once; accepts the pinned key; always refuses a changed or revoked one", () => {
    const fp = "SHA256:a";
    const none = { keys: [], revoked: [] };
    const pinned = { keys: [fp], revoked: [] };
    expect(judgeHostKey(none, fp, false)).toEqual({ ok: false, reason: "unknown" });
    expect(judgeHostKey(none, fp, true)).toEqual({ ok: true, learned: true });
    expect(judgeHostKey(pinned, fp, false)).toEqual({ ok: true, learned: false });
    expect(judgeHostKey(pinned, "SHA256:b", true)).toEqual({ ok: false, reason: "changed", expected: fp });
    // After flashing a kiln image, the key its manifest announces replaces the old one; no other does.
    expect(judgeHostKey(pinned, "SHA256:b", false, "SHA256:b")).toEqual({ ok: true, learned: true });
    expect(judgeHostKey(pinned, "SHA256:c", false, "SHA256:b")).toEqual({ ok: false, reason: "changed", expected: fp });
    expect(judgeHostKey({ keys: [fp], revoked: [fp] }, fp, true, fp)).toEqual({ ok: false, reason: "revoked" });
  });
});

describe("known_hosts files", () => {
  it("matches hashed names, patterns and negations", () => {
    const [h1, h2] = parseKnownHosts(HASHED, "kh", true);
    expect(hostFieldMatches(h1?.hosts ?? "", "[192.0.2.7]:2222")).toBe(true);
    expect(hostFieldMatches(h1?.hosts ?? "", "192.0.2.7")).toBe(false);
    expect(hostFieldMatches(h2?.hosts ?? "", "board-9")).toBe(true);
    expect(h1?.fingerprint).toBe(KEY_FP);
    expect(hostFieldMatches("board-*,!board-bad", "board-3")).toBe(true);
    expect(hostFieldMatches("board-*,!board-bad", "board-bad")).toBe(false);
    expect(hostFieldMatches("[10.0.0.?]:2222", "[10.0.0.5]:2222")).toBe(true);
    expect(hostFieldMatches("[10.0.0.?]:2222", "10.0.0.5")).toBe(false);
  });

  it("kiln's own pins come first, then the user's; @revoked counts from any file; @cert-authority lines are not pins", () => {
    const user = parseKnownHosts(`${HASHED}\n@cert-authority *.lab ${KEY}\n@revoked board-9 ${KEY}\n`, "user", false);
    expect(pinsFor([{ file: "kiln", entries: [] }, { file: "user", entries: user }], "[192.0.2.7]:2222")).toMatchObject({ keys: [KEY_FP], from: "user", types: ["ssh-ed25519"] });
    expect(pinsFor([{ file: "kiln", entries: parseKnownHosts("[192.0.2.7]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE=", "kiln", false) }, { file: "user", entries: user }], "[192.0.2.7]:2222").from).toBe("kiln");
    expect(pinsFor([{ file: "user", entries: user }], "x.lab").keys).toEqual([]);
    expect(pinsFor([{ file: "user", entries: user }], "board-9").revoked).toEqual([KEY_FP]);
  });

  it("asks for the pinned kind of key first", () => {
    expect(hostKeyAlgorithms(["ssh-rsa"]).slice(0, 3)).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    expect(hostKeyAlgorithms(["ssh-rsa"])).toContain("ssh-ed25519");
    expect(hostKeyAlgorithms([])[0]).toBe("ssh-ed25519");
  });

  it("a file of kiln's that cannot be parsed is an error, never an empty list that the next save would write over", async () => {
    const file = join(tmp(), "known_hosts");
    writeFileSync(file, `board-1 ${KEY}\nboard-2 ssh-ed25519\n`);
    await expect(loadKnownHosts(file)).rejects.toThrow(/line 2 is not a known_hosts entry/);
    await expect(saveKnownHost("board-3", KEY, file)).rejects.toThrow(/line 2/);
    expect(readFileSync(file, "utf8")).toBe(`board-1 ${KEY}\nboard-2 ssh-ed25519\n`);
    writeFileSync(file, `board-1 ssh-rsa ${KEY.split(" ")[1] ?? ""}\n`);
    await expect(loadKnownHosts(file)).rejects.toThrow(/is not a ssh-rsa key/);
    // The user's files are read as ssh reads them: a bad line is skipped.
    expect(parseKnownHosts(`garbage\n${KEY.replace("ssh-ed25519", "board-1 ssh-ed25519")}\n`, "user", false)).toHaveLength(1);
  });

  it("a file of kiln's that cannot be read is an error too, and the save leaves it alone", async () => {
    // Root reads past any mode bits, so the unreadable file is a directory in its place.
    const file = join(tmp(), "known_hosts");
    mkdirSync(file);
    await expect(loadKnownHosts(file)).rejects.toThrow(/cannot read the known hosts .*known_hosts: .*EISDIR/);
    await expect(saveKnownHost("board-3", KEY, file)).rejects.toThrow(/cannot read the known hosts/);
    expect(statSync(file).isDirectory()).toBe(true);
  });

  it("the old JSON pins still count, and a corrupt one is an error", async () => {
    const dir = tmp();
    const prev = process.env.KILN_STATE_DIR;
    process.env.KILN_STATE_DIR = dir;
    try {
      writeFileSync(join(dir, "known_hosts.json"), JSON.stringify({ "[127.0.0.1]:2222": KEY_FP }));
      expect((await loadPins("[127.0.0.1]:2222", undefined, [])).keys).toEqual([KEY_FP]);
      await saveKnownHost("[127.0.0.1]:2222", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE=");
      // A new pin in the new file wins over the old one.
      expect((await loadPins("[127.0.0.1]:2222", undefined, [])).keys).not.toEqual([KEY_FP]);
      writeFileSync(join(dir, "known_hosts.json"), '{ "board-1": ');
      await expect(loadPins("board-1", undefined, [])).rejects.toThrow(/is not valid JSON/);
    } finally {
      if (prev === undefined) delete process.env.KILN_STATE_DIR;
      else process.env.KILN_STATE_DIR = prev;
    }
  });

  it("a save replaces the host's pin and keeps every other line, comments included", async () => {
    const file = join(tmp(), "known_hosts");
    writeFileSync(file, `# mine\nboard-1,board-2 ${KEY}\n`);
    await saveKnownHost("board-2", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE=", file);
    expect(readFileSync(file, "utf8")).toBe(`# mine\nboard-1 ${KEY}\nboard-2 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKE=\n`);
  });

  it("keeps every key learned by parallel connections", async () => {
    const file = join(tmp(), "known_hosts");
    await Promise.all(Array.from({ length: 20 }, (_, i) => saveKnownHost(`[127.0.0.1]:${2200 + i}`, KEY, file)));
    expect(await loadKnownHosts(file)).toHaveLength(20);
  });

  it("keeps every key saved by separate processes at once", async () => {
    const file = join(tmp(), "known_hosts");
    const mod = new URL("../../src/remote/known-hosts.ts", import.meta.url).pathname;
    const script = (i: number) =>
      `(async () => { const { saveKnownHost } = await import(${JSON.stringify(mod)}); for (let j = 0; j < 5; j++) await saveKnownHost("[10.0.0.${i}]:" + (2200 + j), ${JSON.stringify(KEY)}, ${JSON.stringify(file)}); })();`;
    await Promise.all([1, 2, 3].map((i) => execa("npx", ["tsx", "-e", script(i)], { reject: true })));
    expect(await loadKnownHosts(file)).toHaveLength(15);
  }, 60_000);
});
