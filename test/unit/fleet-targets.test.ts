/** Boards as the user writes them, and the same board twice refused before anything is written. */
import { describe, expect, it } from "vitest";
import { parseHostSpec, refuseDuplicateBoards } from "../../src/remote/fleet.js";
import type { SshTarget } from "../../src/remote/ssh.js";

const t = (host: string, port = 22): SshTarget => ({ host, port, user: "root", acceptNewHostKey: false });

describe("a host as written", () => {
  it("takes names, name:port, IPv6 bare and in brackets", () => {
    expect(parseHostSpec("board1")).toEqual({ host: "board1" });
    expect(parseHostSpec("10.0.0.7:2222")).toEqual({ host: "10.0.0.7", port: 2222 });
    expect(parseHostSpec("fe80::1")).toEqual({ host: "fe80::1" });
    expect(parseHostSpec("[::1]:22")).toEqual({ host: "::1", port: 22 });
    expect(parseHostSpec("[fe80::1%eth0]")).toEqual({ host: "fe80::1%eth0" });
  });

  it("refuses what cannot be a host", () => {
    expect(() => parseHostSpec("")).toThrow(/is not a host name or address/);
    expect(() => parseHostSpec("../../x")).toThrow(/is not a host name or address/);
    expect(() => parseHostSpec("-oProxyCommand=x")).toThrow(/is not a host name or address/);
    // With a port too: the host part names the board's log file.
    expect(() => parseHostSpec("a/../../../x:22")).toThrow(/is not a host name or address/);
    expect(() => parseHostSpec("..:22")).toThrow(/is not a host name or address/);
    expect(() => parseHostSpec("[a/b]:22")).toThrow(/is not a host name or address/);
    expect(() => parseHostSpec("board:ssh")).toThrow(/is not a host name or address/);
    expect(() => parseHostSpec("board:0")).toThrow(/port 0 is not 1-65535/);
    expect(() => parseHostSpec("board:70000")).toThrow(/port 70000 is not 1-65535/);
  });
});

describe("the same board twice", () => {
  it("by address: h and h:22, before any connection", async () => {
    let asked = 0;
    const keyOf = async () => {
      asked += 1;
      return undefined;
    };
    await expect(refuseDuplicateBoards([t("Board1"), t("board1", 22), t("board2")], keyOf)).rejects.toThrow(/the same board is given more than once: Board1 and board1/);
    expect(asked).toBe(0);
  });

  it("by host key: a name and an address of one board", async () => {
    const keys: Record<string, string> = { "ax3-lab": "SHA256:aaa", "10.0.0.7": "SHA256:aaa", "10.0.0.8": "SHA256:bbb" };
    await expect(refuseDuplicateBoards([t("ax3-lab"), t("10.0.0.7"), t("10.0.0.8")], async (x) => keys[x.host])).rejects.toThrow(
      /the same board under different addresses: ax3-lab and 10\.0\.0\.7 \(host key SHA256:aaa\)/,
    );
  });

  it("different boards, and boards that do not answer, pass", async () => {
    const keys: Record<string, string> = { a: "SHA256:aaa", b: "SHA256:bbb" };
    await expect(refuseDuplicateBoards([t("a"), t("b"), t("gone"), t("gone2", 2222)], async (x) => keys[x.host])).resolves.toBeUndefined();
  });
});
