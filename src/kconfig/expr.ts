export type CmpOp = "=" | "!=" | "<" | ">" | "<=" | ">=";

export type Expr =
  | { kind: "sym"; name: string }
  | { kind: "const"; value: string }
  | { kind: "not"; e: Expr }
  | { kind: "and"; l: Expr; r: Expr }
  | { kind: "or"; l: Expr; r: Expr }
  | { kind: "cmp"; op: CmpOp; l: Expr; r: Expr };

/** n, m, y */
export type Tri = 0 | 1 | 2;

export type ValueFn = (name: string) => string | undefined;

export type Token =
  | { kind: "word"; text: string }
  | { kind: "string"; text: string }
  | { kind: "op"; text: string };

/** [A-Za-z0-9_-] as in lexer.l, `$` for macro references, and `/` `.` for 3.0-era unquoted source paths. */
function isWordChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 36 || c === 46 || c === 47
  );
}
const OPERATORS = ["||", "&&", "!=", "<=", ">=", ":=", "+=", "=", "<", ">", "!", "(", ")"];

/** Index just past the `)` closing the `$(` at `start`; macro calls nest and may hold spaces and commas. */
function macroEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) return i + 1;
  }
  throw new Error(`unterminated macro call in "${text.slice(start)}"`);
}

/**
 * Splits one logical Kconfig line the way scripts/kconfig/lexer.l does: `#` starts a comment
 * outside quotes, strings use " or ' with backslash escapes, and a `$(...)` call is one word.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "#") {
      break;
    } else if (c === '"' || c === "'") {
      let s = "";
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        s += text[i];
        i++;
      }
      if (i >= text.length) throw new Error(`unterminated string in "${text}"`);
      i++;
      tokens.push({ kind: "string", text: s });
    } else if (isWordChar(text.charCodeAt(i))) {
      const start = i;
      while (i < text.length && isWordChar(text.charCodeAt(i))) {
        i = text[i] === "$" && text[i + 1] === "(" ? macroEnd(text, i) : i + 1;
      }
      tokens.push({ kind: "word", text: text.slice(start, i) });
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      if (!op) throw new Error(`unexpected character '${c}' in "${text}"`);
      tokens.push({ kind: "op", text: op });
      i += op.length;
    }
  }
  return tokens;
}

const NUMBER = /^(-?\d+|0x[0-9a-f]+)$/i;

/** A bare word is a constant when Kconfig would find a constant symbol for it. */
export function wordToExpr(word: string): Expr {
  if (word === "y" || word === "m" || word === "n" || NUMBER.test(word) || word.includes("$")) {
    return { kind: "const", value: word };
  }
  return { kind: "sym", name: word };
}

/**
 * Parses an expression starting at tokens[pos], stopping (without consuming) at the first token
 * that cannot continue it, such as the `if` of `default X if Y`.
 */
export function parseExprTokens(tokens: Token[], pos: number): { expr: Expr; pos: number } {
  let i = pos;
  const peek = (): Token | undefined => tokens[i];
  const isOp = (text: string): boolean => peek()?.kind === "op" && peek()?.text === text;
  const describe = (): string => {
    const t = peek();
    return t ? `'${t.text}'` : "end of expression";
  };

  const atom = (): Expr | undefined => {
    const t = peek();
    if (t?.kind === "word" && t.text !== "if") {
      i++;
      return wordToExpr(t.text);
    }
    if (t?.kind === "string") {
      i++;
      return { kind: "const", value: t.text };
    }
    return undefined;
  };

  // Comparisons take only symbols or constants as operands (parser.y), so `!A = y` is `!(A = y)`.
  const comparison = (): Expr => {
    if (isOp("!")) {
      i++;
      return { kind: "not", e: comparison() };
    }
    if (isOp("(")) {
      i++;
      const e = or();
      if (!isOp(")")) throw new Error(`expected ')' but found ${describe()}`);
      i++;
      return e;
    }
    const l = atom();
    if (!l) throw new Error(`expected a symbol, constant, '!' or '(' but found ${describe()}`);
    const t = peek();
    if (t?.kind === "op" && ["=", "!=", "<", ">", "<=", ">="].includes(t.text)) {
      i++;
      const r = atom();
      if (!r) throw new Error(`expected a symbol or constant after '${t.text}' but found ${describe()}`);
      return { kind: "cmp", op: t.text as CmpOp, l, r };
    }
    return l;
  };

  const andExpr = (): Expr => {
    let e = comparison();
    while (isOp("&&")) {
      i++;
      e = { kind: "and", l: e, r: comparison() };
    }
    return e;
  };

  const or = (): Expr => {
    let e = andExpr();
    while (isOp("||")) {
      i++;
      e = { kind: "or", l: e, r: andExpr() };
    }
    return e;
  };

  const expr = or();
  return { expr, pos: i };
}

export function parseExpr(text: string): Expr {
  const tokens = tokenize(text);
  try {
    const { expr, pos } = parseExprTokens(tokens, 0);
    const rest = tokens[pos];
    if (rest) throw new Error(`unexpected '${rest.text}'`);
    return expr;
  } catch (err) {
    throw new Error(`bad Kconfig expression "${text}": ${(err as Error).message}`);
  }
}

function tristateOf(v: string | undefined): Tri {
  return v === "y" ? 2 : v === "m" ? 1 : 0;
}

function operandString(e: Expr, value: ValueFn): string | undefined {
  if (e.kind === "sym") return value(e.name) ?? "n";
  if (e.kind === "const") return e.value;
  return undefined;
}

function toNumber(s: string): number | undefined {
  if (!NUMBER.test(s)) return undefined;
  return s.toLowerCase().startsWith("0x") ? parseInt(s, 16) : parseInt(s, 10);
}

function compare(op: CmpOp, l: string, r: string): boolean {
  const ln = toNumber(l);
  const rn = toNumber(r);
  const [a, b]: [number | string, number | string] = ln !== undefined && rn !== undefined ? [ln, rn] : [l, r];
  switch (op) {
    case "=":
      return a === b;
    case "!=":
      return a !== b;
    case "<":
      return a < b;
    case ">":
      return a > b;
    case "<=":
      return a <= b;
    case ">=":
      return a >= b;
  }
}

export function evalExpr(e: Expr, value: ValueFn): Tri {
  switch (e.kind) {
    case "sym":
      return tristateOf(value(e.name));
    case "const":
      return tristateOf(e.value);
    case "not":
      return (2 - evalExpr(e.e, value)) as Tri;
    case "and":
      return Math.min(evalExpr(e.l, value), evalExpr(e.r, value)) as Tri;
    case "or":
      return Math.max(evalExpr(e.l, value), evalExpr(e.r, value)) as Tri;
    case "cmp": {
      const l = operandString(e.l, value);
      const r = operandString(e.r, value);
      return l !== undefined && r !== undefined && compare(e.op, l, r) ? 2 : 0;
    }
  }
}

const PRECEDENCE: Record<Expr["kind"], number> = { or: 1, and: 2, cmp: 3, not: 4, sym: 5, const: 5 };

function formatConst(v: string): string {
  if (/^[ymn]$/.test(v) || NUMBER.test(v) || v.startsWith("$(")) return v;
  return JSON.stringify(v);
}

export function formatExpr(e: Expr, value?: ValueFn): string {
  const sub = (child: Expr, min: number): string => {
    const s = formatExpr(child, value);
    return PRECEDENCE[child.kind] < min ? `(${s})` : s;
  };
  switch (e.kind) {
    case "sym":
      return value ? `${e.name} [=${value(e.name) ?? "n"}]` : e.name;
    case "const":
      return formatConst(e.value);
    case "not":
      return `!${sub(e.e, PRECEDENCE.not)}`;
    case "and":
      return `${sub(e.l, PRECEDENCE.and)} && ${sub(e.r, PRECEDENCE.and)}`;
    case "or":
      return `${sub(e.l, PRECEDENCE.or)} || ${sub(e.r, PRECEDENCE.or)}`;
    case "cmp":
      return `${sub(e.l, PRECEDENCE.sym)} ${e.op} ${sub(e.r, PRECEDENCE.sym)}`;
  }
}

export function symbolsOf(e: Expr): string[] {
  const out = new Set<string>();
  const walk = (x: Expr): void => {
    if (x.kind === "sym") out.add(x.name);
    else if (x.kind === "not") walk(x.e);
    else if (x.kind !== "const") {
      walk(x.l);
      walk(x.r);
    }
  };
  walk(e);
  return [...out];
}

export function and(a: Expr | undefined, b: Expr | undefined): Expr | undefined {
  if (!a) return b;
  if (!b) return a;
  return { kind: "and", l: a, r: b };
}

export interface Assignment {
  name: string;
  value: string;
}

function terms(e: Expr, kind: "and" | "or"): Expr[] {
  return e.kind === kind ? [...terms(e.l, kind), ...terms(e.r, kind)] : [e];
}

const NEGATED: Record<CmpOp, CmpOp> = { "=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">" };
const MIRRORED: Record<CmpOp, CmpOp> = { "=": "=", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<=" };

function offset(s: string, delta: number): string {
  const n = toNumber(s);
  if (n === undefined) return s;
  return s.toLowerCase().startsWith("0x") ? `0x${(n + delta).toString(16)}` : String(n + delta);
}

/** A value for the symbol that makes `sym op target` true. */
function valueFor(op: CmpOp, target: string): string {
  switch (op) {
    case "=":
    case "<=":
    case ">=":
      return target;
    case "!=":
      return target === "n" || target === "" ? "y" : "n";
    case "<":
      return offset(target, -1);
    case ">":
      return offset(target, +1);
  }
}

function makeTrue(e: Extract<Expr, { kind: "cmp" }>, value: ValueFn): Assignment[] {
  if (e.l.kind === "sym") {
    const target = operandString(e.r, value);
    return target === undefined ? [] : [{ name: e.l.name, value: valueFor(e.op, target) }];
  }
  if (e.r.kind === "sym") return makeTrue({ kind: "cmp", op: MIRRORED[e.op], l: e.r, r: e.l }, value);
  return [];
}

function merge(lists: Assignment[][]): Assignment[] {
  const seen = new Map<string, Assignment>();
  for (const a of lists.flat()) if (!seen.has(a.name)) seen.set(a.name, a);
  return [...seen.values()];
}

/** Assignments that bring `e` to at least `want` ("up") or at most `want` ("down"). */
function push(e: Expr, value: ValueFn, want: Tri, dir: "up" | "down"): Assignment[] {
  const now = evalExpr(e, value);
  if (dir === "up" ? now >= want : now <= want) return [];
  const pickOne = (candidates: Expr[]): Assignment[] => {
    // Prefer the alternative already closest to the goal, then the one needing fewest changes.
    const closeness = (c: Expr): number => (dir === "up" ? evalExpr(c, value) : -evalExpr(c, value));
    const options = candidates
      .map((c) => ({ c, fix: push(c, value, want, dir) }))
      .filter((o) => o.fix.length > 0)
      .sort((a, b) => closeness(b.c) - closeness(a.c) || a.fix.length - b.fix.length);
    return options[0]?.fix ?? [];
  };
  switch (e.kind) {
    case "sym":
      // "y" satisfies both y and m wants and is valid for bool as well as tristate symbols.
      return [{ name: e.name, value: dir === "up" ? "y" : "n" }];
    case "const":
      return [];
    case "not":
      return push(e.e, value, (2 - want) as Tri, dir === "up" ? "down" : "up");
    case "and":
      return dir === "up" ? merge(terms(e, "and").map((t) => push(t, value, want, dir))) : pickOne(terms(e, "and"));
    case "or":
      return dir === "up" ? pickOne(terms(e, "or")) : merge(terms(e, "or").map((t) => push(t, value, want, dir)));
    case "cmp":
      return makeTrue(dir === "up" ? e : { ...e, op: NEGATED[e.op] }, value);
  }
}

/**
 * Symbol assignments that would raise `e` to at least `want`. Parts that no assignment can fix
 * (constant n, unexpanded `$(...)` calls) contribute nothing, so a non-empty result may still
 * fall short; [] means either satisfied already or nothing to suggest.
 */
export function satisfyingAssignments(e: Expr, value: ValueFn, want: Tri): Assignment[] {
  return push(e, value, want, "up");
}
