import { describe, expect, it } from "vitest";
import { configValue, formatAssignment, parseConfig, parseConfigLine } from "../../src/kconfig/dotconfig.js";
import { InputError } from "../../src/errors.js";

describe(".config and fragment lines", () => {
  it("reads every value form the kernel writes", () => {
    const cfg = parseConfig(
      [
        "#",
        "# Automatically generated file; DO NOT EDIT.",
        "CONFIG_CGROUPS=y",
        "CONFIG_BLK_CGROUP=m",
        "# CONFIG_IPC_NS is not set",
        'CONFIG_DEFAULT_IOSCHED="deadline"',
        'CONFIG_CMDLINE="console=ttyS0,115200 quiet \\"x\\""',
        "CONFIG_LOG_BUF_SHIFT=17",
        "CONFIG_PHYS_OFFSET=0x00000000",
        "",
      ].join("\n"),
    );
    expect(configValue(cfg, "CGROUPS")).toBe("y");
    expect(configValue(cfg, "BLK_CGROUP")).toBe("m");
    expect(configValue(cfg, "IPC_NS")).toBe("n");
    expect(configValue(cfg, "NOT_THERE")).toBe("n");
    expect(cfg.values.get("DEFAULT_IOSCHED")).toMatchObject({ value: "deadline", quoted: true, line: 6 });
    expect(configValue(cfg, "CMDLINE")).toBe('console=ttyS0,115200 quiet "x"');
    expect(configValue(cfg, "LOG_BUF_SHIFT")).toBe("17");
    expect(configValue(cfg, "PHYS_OFFSET")).toBe("0x00000000");
  });

  it("later assignments win, all are kept in order", () => {
    const cfg = parseConfig("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_A is not set\n");
    expect(configValue(cfg, "A")).toBe("n");
    expect(cfg.assignments.map((a) => `${a.name}@${a.line}`)).toEqual(["A@1", "B@2", "A@3"]);
  });

  it.each([["CONFIG_X=maybe"], ["CONFIG_X"], ["X=y"], ["CONFIG_X=\"open"], ["CONFIG_X = y"], ["config X"]])("rejects %s with file and line", (bad) => {
    expect(() => parseConfig(`CONFIG_OK=y\n${bad}\n`, "frag.config")).toThrow(InputError);
    expect(() => parseConfig(`CONFIG_OK=y\n${bad}\n`, "frag.config")).toThrow(/^frag\.config:2: not a kernel config line/);
  });

  it("treats other comments and blank lines as nothing", () => {
    expect(parseConfigLine("   ")).toBe("skip");
    expect(parseConfigLine("# a comment about CONFIG_X")).toBe("skip");
    expect(parseConfigLine("#CONFIG_X is not set")).toEqual({ name: "X", value: "n", quoted: false });
  });

  it("formats assignments back", () => {
    expect(formatAssignment("X", "n")).toBe("# CONFIG_X is not set");
    expect(formatAssignment("X", "m")).toBe("CONFIG_X=m");
    expect(formatAssignment("S", 'a "b"', true)).toBe('CONFIG_S="a \\"b\\""');
    const round = parseConfig(`${formatAssignment("S", 'a "b"', true)}\n`);
    expect(configValue(round, "S")).toBe('a "b"');
  });
});
