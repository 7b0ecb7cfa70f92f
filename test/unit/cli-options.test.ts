import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { checkedOption, VALUES } from "../../src/cli-options.js";

describe("option values, checked where the command line is read", () => {
  it("accepts what the boards and LXC accept", () => {
    expect(VALUES.port("22")).toBe("22");
    expect(VALUES.memory("512M")).toBe("512M");
    expect(VALUES.cpus("0-1,3")).toBe("0-1,3");
    expect(VALUES.ip("fe80::1")).toBe("fe80::1");
    expect(VALUES.cidr("192.0.2.10/24")).toBe("192.0.2.10/24");
    expect(VALUES.cidr("2001:db8::1/64")).toBe("2001:db8::1/64");
    expect(VALUES.seconds("300")).toBe("300");
    expect(VALUES.shares("512")).toBe("512");
    expect(VALUES.pids("32")).toBe("32");
  });

  it("refuses what would reach a shell or a config file on the board as more than a value", () => {
    for (const [kind, bad] of [
      ["port", "0"],
      ["port", "22x"],
      ["port", "65536"],
      ["count", "four"],
      ["seconds", "-1"],
      ["memory", "512M; reboot"],
      ["memory", "0"],
      ["cpus", "0 1"],
      ["cpus", "$(id)"],
      ["ip", "1.1.1.1\nup rm -rf /"],
      ["cidr", "192.0.2.10"],
      ["cidr", "192.0.2.10/33"],
      // Docker refuses cpu.shares below 2; a pids limit the container's own init would hit
      ["shares", "1"],
      ["shares", "512 "],
      ["pids", "8"],
      ["pids", "abc"],
    ] as const) {
      expect(() => VALUES[kind](bad), `${kind} ${JSON.stringify(bad)}`).toThrow();
    }
  });

  it("checks every value of a repeatable option and keeps the default otherwise", () => {
    const parse = (args: string[]) => {
      const cmd = new Command().exitOverride().configureOutput({ writeErr: () => undefined }).addOption(checkedOption("--dns <ip...>", "name servers", "ip")).addOption(checkedOption("--port <p>", "port", "port", "22"));
      cmd.parse(args, { from: "user" });
      return cmd.opts();
    };
    expect(parse(["--dns", "192.0.2.1", "--dns", "2001:db8::53"])).toEqual({ dns: ["192.0.2.1", "2001:db8::53"], port: "22" });
    expect(parse(["--dns", "192.0.2.1", "192.0.2.2"])).toEqual({ dns: ["192.0.2.1", "192.0.2.2"], port: "22" });
    expect(() => parse(["--dns", "192.0.2.1", "--dns", "x\ny"])).toThrow(/IPv4 or IPv6/);
  });
});

describe("a board's log file name", () => {
  it("never leaves the log directory and keeps hosts apart", async () => {
    const { boardLogName } = await import("../../src/remote/fleet.js");
    const evil = boardLogName("flash", "../../x", 22);
    expect(evil).not.toContain("/");
    expect(evil).toMatch(/^flash-_x-22-[0-9a-f]{6}\.log$/);
    expect(boardLogName("flash", "fe80::1", 22)).toMatch(/^flash-fe80_1-22-[0-9a-f]{6}\.log$/);
    expect(boardLogName("flash", "a/b", 22)).not.toBe(boardLogName("flash", "a_b", 22));
  });
});

describe("kiln flash's summary", () => {
  it("says checked only when the check ran", async () => {
    const { flashResultText } = await import("../../src/commands/flash.js");
    expect(flashResultText({ check: { ok: true } }, false)).toBe("flashed, rebooted, checked");
    expect(flashResultText({}, false)).toBe("flashed and rebooted; not checked (--no-check)");
    expect(flashResultText({}, true)).toBe("dry run ok");
  });
});

describe("a host key brought by an image", () => {
  const target = { host: "192.0.2.10", port: 22, user: "root", acceptNewHostKey: false };
  it("may replace a pinned, different key only with --replace-host-key", async () => {
    const { refuseKeyReplacement } = await import("../../src/commands/flash.js");
    expect(() => refuseKeyReplacement(target, "SHA256:old", "SHA256:new", false)).toThrow(/brings its own SSH host key SHA256:new, and 192\.0\.2\.10 is pinned with SHA256:old/);
    expect(() => refuseKeyReplacement(target, "SHA256:old", "SHA256:new", true)).not.toThrow();
    // The same key, or an image that announces none: nothing is replaced.
    expect(() => refuseKeyReplacement(target, "SHA256:same", "SHA256:same", false)).not.toThrow();
    expect(() => refuseKeyReplacement(target, "SHA256:old", undefined, false)).not.toThrow();
  });
});
