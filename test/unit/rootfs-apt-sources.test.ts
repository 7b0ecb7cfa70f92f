import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostSources, mirrorOption, parseDeb822, parseOneLine, selectSuites, sourceLine, suiteKind } from "../../src/rootfs/apt-sources.js";

const fixtures = join(import.meta.dirname, "..", "fixtures", "rootfs", "apt");

describe("apt sources", () => {
  it("reads one-line entries: options, comments, deb-src skipped", () => {
    const s = parseOneLine(
      [
        "# comment",
        "deb http://a.example/debian bookworm main contrib # trailing",
        "deb-src http://a.example/debian bookworm main",
        "deb [ arch=armhf,arm64 signed-by=/k.gpg ] http://b.example/debian bookworm-updates main",
        "",
      ].join("\n"),
      "x.list",
    );
    expect(s).toEqual([
      { uri: "http://a.example/debian", suites: ["bookworm"], components: ["main", "contrib"], origin: "x.list:2" },
      { uri: "http://b.example/debian", suites: ["bookworm-updates"], components: ["main"], signedBy: "/k.gpg", architectures: ["armhf", "arm64"], origin: "x.list:4" },
    ]);
  });

  it("names the line of a malformed one-line entry", () => {
    expect(() => parseOneLine("deb http://a.example/debian\n", "y.list")).toThrow(/y\.list:1: expected "deb URI SUITE/);
    expect(() => parseOneLine("deb [arch=armhf http://a bookworm main\n", "z.list")).toThrow(/z\.list:1: unterminated/);
  });

  it("reads deb822 stanzas with several suites and URIs, comments and Enabled: no", () => {
    const s = parseDeb822(
      [
        "Types: deb deb-src",
        "# comment inside a stanza",
        "URIs: http://a.example/debian http://b.example/debian",
        "Suites: bookworm bookworm-updates",
        "Components: main",
        "",
        "Types: deb-src",
        "URIs: http://c.example/debian",
        "Suites: bookworm",
        "",
        "Types: deb",
        "URIs: http://d.example/debian",
        "Suites: bookworm",
        "Enabled: no",
      ].join("\n"),
    );
    expect(s.map((e) => [e.uri, e.suites])).toEqual([
      ["http://a.example/debian", ["bookworm", "bookworm-updates"]],
      ["http://b.example/debian", ["bookworm", "bookworm-updates"]],
    ]);
  });

  it("keeps an inline Signed-By key block as one value", () => {
    const s = parseDeb822("Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n");
    expect(s[0]?.signedBy).toContain("BEGIN PGP");
    // mmdebstrap's one-line form cannot carry an inline key: it is left to apt's defaults.
    expect(sourceLine({ suite: "bookworm", uri: "http://a.example/debian", components: ["main"], signedBy: s[0]?.signedBy ?? "", kind: "base" })).toBe(
      "deb http://a.example/debian bookworm main",
    );
  });

  it("reads the host's files: .list and .sources only, in order", async () => {
    const all = await hostSources(fixtures);
    expect(all.map((s) => s.origin.replace(fixtures, ""))).toEqual([
      "/sources.list:2",
      "/sources.list:6",
      "/sources.list.d/debian.sources:2",
      "/sources.list.d/debian.sources:9",
      "/sources.list.d/extra.list:1",
    ]);
    expect(all.some((s) => s.uri.includes("nodesource"))).toBe(false);
  });

  it("selects the release's suites for the architecture, first mirror wins", async () => {
    const picked = selectSuites(await hostSources(fixtures), "bookworm", "armhf");
    expect(picked).toEqual([
      { suite: "bookworm", uri: "http://mirror.example/debian", components: ["main", "contrib"], kind: "base" },
      { suite: "bookworm-updates", uri: "http://other.example/debian", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg", kind: "update" },
      { suite: "bookworm-security", uri: "http://security.example/debian-security", components: ["main"], signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg", kind: "update" },
    ]);
    expect(sourceLine(picked[2] as (typeof picked)[number])).toBe(
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.example/debian-security bookworm-security main",
    );
  });

  it("classifies suites", () => {
    expect(suiteKind("bookworm", "bookworm")).toBe("base");
    expect(suiteKind("bookworm-security", "bookworm")).toBe("update");
    expect(suiteKind("bookworm-updates", "bookworm")).toBe("update");
    expect(suiteKind("bookworm-backports", "bookworm")).toBe("other");
    expect(suiteKind("trixie", "bookworm")).toBe("other");
  });

  it("--mirror gives the base and -updates suites, or the suites named", () => {
    expect(mirrorOption(["http://m.example/debian", "http://s.example/debian-security bookworm-security"], "bookworm", ["main"]).map((s) => `${s.suite} ${s.uri}`)).toEqual([
      "bookworm http://m.example/debian",
      "bookworm-updates http://m.example/debian",
      "bookworm-security http://s.example/debian-security",
    ]);
    expect(() => mirrorOption(["m.example/debian"], "bookworm", ["main"])).toThrow(/not a mirror URI/);
    expect(() => mirrorOption(["http://m.example/debian sid"], "bookworm", ["main"])).toThrow(/sid is not bookworm/);
  });
});
