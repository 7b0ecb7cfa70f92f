/** Boards reached as ssh reaches them: OpenSSH's own reading of a config file (ssh -G), turned into kiln's targets. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseJump, parseSshG, resolveSshTarget, sshTargetFor } from "../../src/remote/ssh-config.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-sshcfg-"));
const key = join(dir, "lab_key");
writeFileSync(key, "not a real key\n");
const config = join(dir, "config");
writeFileSync(
  config,
  [
    "Host ax3-*",
    "  User admin",
    "  ProxyJump jumpuser@gate.lab:2201",
    `  IdentityFile ${key}`,
    "Host ax3-01",
    "  HostName 192.168.111.217",
    "  Port 2222",
    "Host gate.lab",
    "  HostName 10.9.8.7",
    "Host plain",
    "  HostName 10.0.0.5",
    "",
  ].join("\n"),
);

describe("ssh -G output", () => {
  it("takes the first value of a key, every IdentityFile, and the jump hops", () => {
    const c = parseSshG(
      "hostname 10.0.0.5\nuser admin\nport 2222\nidentityfile ~/.ssh/a\nidentityfile /k/b\nproxyjump a@j1,j2:2200\nuserknownhostsfile ~/.ssh/known_hosts /lab/kh\nglobalknownhostsfile /etc/ssh/ssh_known_hosts\n",
      "/home/u",
    );
    expect(c).toEqual({
      hostname: "10.0.0.5", user: "admin", port: 2222, identityFiles: ["/home/u/.ssh/a", "/k/b"], proxyJump: ["a@j1", "j2:2200"],
      knownHostsFiles: ["/home/u/.ssh/known_hosts", "/lab/kh", "/etc/ssh/ssh_known_hosts"],
    });
    expect(parseSshG("hostname h\nuserknownhostsfile none\n").knownHostsFiles).toEqual([]);
    expect(parseSshG("hostname h\nproxyjump none\n").proxyJump).toEqual([]);
  });

  it("reads a jump hop in each of its forms", () => {
    expect(parseJump("gate")).toEqual({ host: "gate" });
    expect(parseJump("u@gate:2201")).toEqual({ host: "gate", user: "u", port: 2201 });
    expect(parseJump("ssh://u@[fe80::1]:22")).toEqual({ host: "fe80::1", user: "u", port: 22 });
  });
});

describe("a board as ssh would reach it", () => {
  it("an alias: HostName, User, Port, IdentityFile and ProxyJump from the config; the jump host resolved the same way", async () => {
    const t = await sshTargetFor({ host: "ax3-01" }, { acceptNewHostKey: false, sshConfig: config });
    // The config's keys are offered in turn (Remote.connect), not named: a named key must work.
    expect(t).toMatchObject({ host: "192.168.111.217", port: 2222, user: "admin", identityFiles: [key], label: "ax3-01" });
    expect(t.identity).toBeUndefined();
    expect(t.via).toMatchObject({ host: "10.9.8.7", port: 2201, user: "jumpuser", label: "gate.lab" });
    expect(t.via?.via).toBeUndefined();
  });

  it("the command line wins over the config", async () => {
    const t = await sshTargetFor({ host: "ax3-01", port: 22 }, { acceptNewHostKey: false, sshConfig: config, user: "root", identity: "/other/key" });
    expect(t).toMatchObject({ host: "192.168.111.217", port: 22, user: "root", identity: "/other/key" });
  });

  it("a host the config does not name: kiln's defaults (root, 22), no jump", async () => {
    const t = await resolveSshTarget({ host: "10.1.1.1", port: 22, user: "root", acceptNewHostKey: false }, { configFile: config });
    expect(t).toMatchObject({ host: "10.1.1.1", port: 22, user: "root" });
    expect(t.via).toBeUndefined();
  });

  it("a config ssh cannot read is an error naming it", async () => {
    const bad = join(dir, "bad");
    writeFileSync(bad, "Host x\n  NoSuchOption yes\n");
    await expect(sshTargetFor({ host: "x" }, { acceptNewHostKey: false, sshConfig: bad })).rejects.toThrow(/the ssh configuration for x cannot be read/);
  });
});
