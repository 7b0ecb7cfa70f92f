import { describe, it, expect, afterAll } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { formatExpr } from "../../src/kconfig/expr.js";
import { allSymbolNames, readKconfigTree } from "../../src/kconfig/tree.js";
import { ARM, deps, only } from "../support/kconfig.js";

const fixtures: string[] = [];
afterAll(() => fixtures.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function fixture(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "kiln-kconfig-"));
  fixtures.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}


describe("readKconfigTree on small trees", () => {
  it("ANDs nested if blocks, menu dependencies and own depends on", async () => {
    const root = fixture({
      Kconfig: `mainmenu "Test $(ARCH)"
config A
	bool "A"
if A
menu "Stuff"
	depends on B
	visible if C

if D
config E
	tristate "E" if F
	depends on G
	depends on H || I
endif # D

config J
	bool
endmenu
endif
config K
	def_bool y if A
`,
    });
    const tree = await readKconfigTree(root, ARM);
    expect(deps(tree, "E")).toBe("A && B && D && G && (H || I)");
    expect(formatExpr(only(tree, "E").promptIf ?? { kind: "const", value: "y" })).toBe("C && F");
    expect(only(tree, "E").type).toBe("tristate");
    expect(deps(tree, "J")).toBe("A && B");
    expect(only(tree, "J").hasPrompt).toBe(false);
    expect(deps(tree, "K")).toBeUndefined();
    expect(only(tree, "K").type).toBe("bool");
    expect(only(tree, "K").defaults.map((d) => [formatExpr(d.value), d.cond && formatExpr(d.cond)])).toEqual([
      ["y", "A"],
    ]);
    expect(tree.warnings).toEqual([]);
  });

  it("records choices, selects, implies and defaults", async () => {
    const root = fixture({
      Kconfig: `choice
	prompt "Flavour"
	depends on X
	default SWEET

config SWEET
	bool "Sweet"
	select SUGAR if !DIET
	imply FRUIT

config SOUR
	bool "Sour"
	select SUGAR
endchoice

choice NAMED
	bool "Named"
config ONE
	bool "one"
endchoice

config SUGAR
	bool
	default "7" if Z
	default m
`,
    });
    const tree = await readKconfigTree(root, ARM);
    const sweet = only(tree, "SWEET");
    expect(sweet.choice).toEqual({ id: "Kconfig:1", prompt: "Flavour" });
    expect(sweet.dependsOn).toEqual({ kind: "sym", name: "X" });
    expect(only(tree, "ONE").choice).toEqual({ id: "NAMED", prompt: "Named" });
    expect(only(tree, "SUGAR").choice).toBeUndefined();
    expect(sweet.selects.map((s) => [s.target, s.cond && formatExpr(s.cond)])).toEqual([["SUGAR", "!DIET"]]);
    expect(sweet.implies).toEqual([{ target: "FRUIT", cond: undefined }]);
    expect(tree.selectedBy.get("SUGAR")?.map((s) => [s.by, s.line])).toEqual([
      ["SWEET", 8],
      ["SOUR", 13],
    ]);
    expect(tree.impliedBy.get("FRUIT")?.[0]?.by).toBe("SWEET");
    expect(only(tree, "SUGAR").defaults.map((d) => formatExpr(d.value))).toEqual(["7", "m"]);
    expect(only(tree, "SOUR").line).toBe(11);
  });

  it("skips help text by indentation, including lines that look like statements", async () => {
    const root = fixture({
      Kconfig: `config A
	bool "A"
	help
	  Say Y here.

	    config NOT_A_SYMBOL
	  if FOO
	  endif

	---help---
config B
	tristate "B"
	---help---
	  More text \\
	  config ALSO_NOT
          config STILL_HELP_TEN_SPACES
   config C
	bool "C"
	help
config D
	bool
`,
    });
    const tree = await readKconfigTree(root, ARM);
    expect(allSymbolNames(tree)).toEqual(["A", "B", "C", "D"]);
    expect(only(tree, "C").hasPrompt).toBe(true);
    expect(tree.warnings).toEqual([]);
  });

  it("joins continued lines and keeps macro calls opaque", async () => {
    const root = fixture({
      Kconfig: `cc-name := gcc
quote := "
answer = y
config A
	def_bool $(success,test "$(cc-name)" = gcc) && \\
		B
config C
	bool
	default $(answer)
	default "$(cc-name)"
config D
	int
	default 0x10
`,
    });
    const tree = await readKconfigTree(root, ARM);
    const a = only(tree, "A").defaults[0]?.value;
    expect(a && formatExpr(a)).toBe(`$(success,test "$(cc-name)" = gcc) && B`);
    expect(only(tree, "C").defaults.map((d) => d.value)).toEqual([
      { kind: "const", value: "y" },
      { kind: "const", value: "gcc" },
    ]);
    expect(only(tree, "D").type).toBe("int");
  });

  it("follows 3.0-style env sources, rsource and osource", async () => {
    const root = fixture({
      Kconfig: `mainmenu "Linux/$ARCH $KERNELVERSION Kernel Configuration"

config SRCARCH
	string
	option env="SRCARCH"

source "arch/$SRCARCH/Kconfig"
source drivers/Kconfig
osource "missing/Kconfig"
source "also-missing/Kconfig"
`,
      "arch/arm/Kconfig": `config ARM
	bool
	default y
	select HAVE_THING
config OLD
	boolean "old spelling"
	option modules
	requires ARM
	enable HAVE_OLD
	---help---
	  Old help.
`,
      "arch/x86/Kconfig": "config X86\n\tbool\n",
      "drivers/Kconfig": `menu "Drivers"
rsource "net/Kconfig"
orsource "nope/Kconfig"
endmenu
`,
      "drivers/net/Kconfig": "config NETDEV\n\ttristate \"net\"\n\tdepends on ARM\n",
    });
    const tree = await readKconfigTree(root, ARM);
    expect(allSymbolNames(tree)).toEqual(["ARM", "NETDEV", "OLD", "SRCARCH"]);
    expect(only(tree, "OLD").type).toBe("bool");
    expect(deps(tree, "OLD")).toBe("ARM");
    expect(tree.selectedBy.get("HAVE_OLD")?.[0]?.by).toBe("OLD");
    expect(only(tree, "NETDEV").file).toBe("drivers/net/Kconfig");
    expect(tree.selectedBy.get("HAVE_THING")?.[0]).toMatchObject({ by: "ARM", file: "arch/arm/Kconfig", line: 4 });
    expect(tree.warnings).toEqual(['Kconfig:10: cannot source "also-missing/Kconfig": file not found']);
  });

  it("reports unbalanced blocks and bad expressions as warnings", async () => {
    const root = fixture({
      Kconfig: `source "sub/Kconfig"
config A
	bool "a"
	depends on (B
endif
`,
      "sub/Kconfig": "if X\nconfig IN_X\n\tbool\n",
    });
    const tree = await readKconfigTree(root, ARM);
    expect(deps(tree, "IN_X")).toBe("X");
    expect(deps(tree, "A")).toBeUndefined();
    expect(tree.warnings).toHaveLength(3);
    expect(tree.warnings.join("\n")).toMatch(/sub\/Kconfig: 1 unclosed/);
    expect(tree.warnings.join("\n")).toMatch(/Kconfig:4: .*expected '\)'/);
    expect(tree.warnings.join("\n")).toMatch(/Kconfig:5: endif without matching if/);
  });

  it("rejects a directory without a Kconfig", async () => {
    await expect(readKconfigTree(fixture({ README: "" }), ARM)).rejects.toThrow(/no top-level Kconfig/);
  });
});
