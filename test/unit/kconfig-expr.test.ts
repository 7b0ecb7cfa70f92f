import { describe, it, expect } from "vitest";
import { and, evalExpr, formatExpr, parseExpr, satisfyingAssignments, symbolsOf, type Expr } from "../../src/kconfig/expr.js";

const values =
  (v: Record<string, string>) =>
  (name: string): string | undefined =>
    v[name];

describe("parseExpr", () => {
  it("reads symbols and constants", () => {
    expect(parseExpr("NET_SCHED")).toEqual({ kind: "sym", name: "NET_SCHED" });
    expect(parseExpr("y")).toEqual({ kind: "const", value: "y" });
    expect(parseExpr("0x1f")).toEqual({ kind: "const", value: "0x1f" });
    expect(parseExpr("-1")).toEqual({ kind: "const", value: "-1" });
    expect(parseExpr('"hello world"')).toEqual({ kind: "const", value: "hello world" });
  });

  it("gives && precedence over ||, and comparisons over &&", () => {
    expect(formatExpr(parseExpr("A || B && C = y"))).toBe("A || B && C = y");
    const e = parseExpr("A || B && C = y");
    expect(e.kind).toBe("or");
    expect(e.kind === "or" && e.r.kind === "and" && e.r.r.kind).toBe("cmp");
  });

  it("applies ! to a whole comparison, as scripts/kconfig/parser.y does", () => {
    // drivers/tty/serial/Kconfig: `select SERIAL_PXA_NON8250 if !SERIAL_8250=y`
    expect(parseExpr("!SERIAL_8250=y")).toEqual({
      kind: "not",
      e: { kind: "cmp", op: "=", l: { kind: "sym", name: "SERIAL_8250" }, r: { kind: "const", value: "y" } },
    });
  });

  it("honours parentheses", () => {
    const e = parseExpr("(A || B) && !(C || D)");
    expect(e.kind).toBe("and");
    expect(formatExpr(e)).toBe("(A || B) && !(C || D)");
  });

  it("keeps macro calls with spaces, commas and quotes as one opaque constant", () => {
    const e = parseExpr(`ARM64 && $(cc-option,-mabi=lp64 -march="armv8.5-a(x)")`);
    expect(e).toEqual({
      kind: "and",
      l: { kind: "sym", name: "ARM64" },
      r: { kind: "const", value: `$(cc-option,-mabi=lp64 -march="armv8.5-a(x)")` },
    });
  });

  it("ignores comments and accepts all comparison operators", () => {
    expect(parseExpr("A # trailing comment")).toEqual({ kind: "sym", name: "A" });
    for (const op of ["=", "!=", "<", ">", "<=", ">="]) {
      expect(parseExpr(`X ${op} 3`)).toMatchObject({ kind: "cmp", op });
    }
  });

  it("throws a clear error on bad syntax", () => {
    expect(() => parseExpr("A &&")).toThrow(/bad Kconfig expression "A &&"/);
    expect(() => parseExpr("(A || B")).toThrow(/expected '\)'/);
    expect(() => parseExpr("A B")).toThrow(/unexpected 'B'/);
    expect(() => parseExpr('"open')).toThrow(/unterminated string/);
    expect(() => parseExpr("A ^ B")).toThrow(/unexpected character/);
    expect(() => parseExpr("")).toThrow(/end of expression/);
  });
});

describe("evalExpr", () => {
  const v = values({ Y: "y", M: "m", N: "n", S: "hello", NUM: "10", HEX: "0x10" });
  const ev = (text: string): number => evalExpr(parseExpr(text), v);

  it("maps symbols and constants to tristate values", () => {
    expect([ev("Y"), ev("M"), ev("N"), ev("ABSENT"), ev("S")]).toEqual([2, 1, 0, 0, 0]);
    expect([ev("y"), ev("m"), ev("n")]).toEqual([2, 1, 0]);
  });

  it("uses min for &&, max for || and 2-v for !", () => {
    expect(ev("Y && M")).toBe(1);
    expect(ev("N || M")).toBe(1);
    expect(ev("!M")).toBe(1);
    expect(ev("!Y")).toBe(0);
    expect(ev("!ABSENT")).toBe(2);
    expect(ev("Y && (N || M)")).toBe(1);
  });

  it("compares numerically when both sides are numbers, as strings otherwise", () => {
    expect(ev("NUM > 9")).toBe(2);
    expect(ev("NUM = 0xa")).toBe(2);
    expect(ev("HEX = 16")).toBe(2);
    expect(ev("HEX >= 0x11")).toBe(0);
    expect(ev('S = "hello"')).toBe(2);
    expect(ev('S != "hello"')).toBe(0);
    // A bare word is a symbol reference, so this compares with the (absent) symbol hello.
    expect(ev("S = hello")).toBe(0);
    expect(ev("ABSENT = n")).toBe(2);
    expect(ev("M = y")).toBe(0);
    expect(ev('"y" = y')).toBe(2);
  });

  it("treats an unexpanded macro call as n", () => {
    expect(ev("$(success,true)")).toBe(0);
  });
});

describe("formatExpr", () => {
  it("annotates symbols with their values like menuconfig", () => {
    const v = values({ CGROUPS: "y" });
    expect(formatExpr(parseExpr("NET_SCHED && CGROUPS"), v)).toBe("NET_SCHED [=n] && CGROUPS [=y]");
    expect(formatExpr(parseExpr("X = y"), v)).toBe("X [=n] = y");
  });

  it("adds only the parentheses precedence needs", () => {
    const or: Expr = { kind: "or", l: { kind: "sym", name: "A" }, r: { kind: "sym", name: "B" } };
    expect(formatExpr({ kind: "and", l: or, r: { kind: "sym", name: "C" } })).toBe("(A || B) && C");
    expect(formatExpr({ kind: "not", e: or })).toBe("!(A || B)");
    expect(formatExpr(parseExpr("A && B || C"))).toBe("A && B || C");
    expect(formatExpr(parseExpr("!A && !(B = y)"))).toBe("!A && !(B = y)");
    expect(parseExpr(formatExpr(parseExpr("!(B = y)")))).toEqual(parseExpr("!(B = y)"));
  });

  it("quotes string constants", () => {
    expect(formatExpr(parseExpr('S = "a b"'))).toBe('S = "a b"');
    expect(formatExpr(parseExpr('S != ""'))).toBe('S != ""');
  });
});

describe("symbolsOf and and()", () => {
  it("lists each symbol once, in order", () => {
    expect(symbolsOf(parseExpr("A && (B || !A) && X = C && y"))).toEqual(["A", "B", "X", "C"]);
  });

  it("treats undefined as always true", () => {
    const a = parseExpr("A");
    expect(and(undefined, undefined)).toBeUndefined();
    expect(and(a, undefined)).toBe(a);
    expect(and(undefined, a)).toBe(a);
    expect(formatExpr(and(a, parseExpr("B || C")) as Expr)).toBe("A && (B || C)");
  });
});

describe("satisfyingAssignments", () => {
  const sat = (text: string, v: Record<string, string>, want: 0 | 1 | 2 = 2) =>
    satisfyingAssignments(parseExpr(text), values(v), want);

  it("raises the unmet terms of a conjunction", () => {
    expect(sat("NET_SCHED && CGROUPS", { CGROUPS: "y" })).toEqual([{ name: "NET_SCHED", value: "y" }]);
    expect(sat("A && B && A", {})).toEqual([
      { name: "A", value: "y" },
      { name: "B", value: "y" },
    ]);
  });

  it("returns [] when already satisfied", () => {
    expect(sat("A || B", { B: "y" })).toEqual([]);
    expect(sat("A", { A: "m" }, 1)).toEqual([]);
  });

  it("turns off negated symbols", () => {
    expect(sat("!FOO", { FOO: "y" })).toEqual([{ name: "FOO", value: "n" }]);
    expect(sat("!(A && B)", { A: "y", B: "y" })).toEqual([{ name: "A", value: "n" }]);
    expect(sat("!(A || B)", { A: "y", B: "m" })).toEqual([
      { name: "A", value: "n" },
      { name: "B", value: "n" },
    ]);
  });

  it("picks one alternative of a disjunction, preferring one already partly true", () => {
    expect(sat("SYSVIPC || POSIX_MQUEUE", {})).toEqual([{ name: "SYSVIPC", value: "y" }]);
    expect(sat("A || B", { B: "m" })).toEqual([{ name: "B", value: "y" }]);
    expect(sat("$(cc-option,-foo) || B", {})).toEqual([{ name: "B", value: "y" }]);
    expect(sat("A && D || B && C", { C: "y" })).toEqual([{ name: "B", value: "y" }]);
  });

  it("solves comparisons", () => {
    expect(sat("X = y", {})).toEqual([{ name: "X", value: "y" }]);
    expect(sat("X != n", {})).toEqual([{ name: "X", value: "y" }]);
    expect(sat("X != y", { X: "y" })).toEqual([{ name: "X", value: "n" }]);
    expect(sat("y = X", {})).toEqual([{ name: "X", value: "y" }]);
    expect(sat("X > 10", { X: "3" })).toEqual([{ name: "X", value: "11" }]);
    expect(sat("X < 0x10", { X: "0x20" })).toEqual([{ name: "X", value: "0xf" }]);
    expect(sat("X = Y", { Y: "m" })).toEqual([{ name: "X", value: "m" }]);
    expect(sat("!(X = y)", { X: "y" })).toEqual([{ name: "X", value: "n" }]);
  });

  it("has nothing to suggest for constants", () => {
    expect(sat("n", {})).toEqual([]);
    expect(sat("A && $(success,false)", {})).toEqual([{ name: "A", value: "y" }]);
  });
});
