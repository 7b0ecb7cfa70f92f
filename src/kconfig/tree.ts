import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { InputError } from "../errors.js";
import { and, parseExprTokens, tokenize, type Expr, type Token } from "./expr.js";

export interface SymbolDefinition {
  name: string;
  type: "bool" | "tristate" | "string" | "int" | "hex" | undefined;
  /** A user-visible prompt exists (so a .config/fragment can set it). */
  hasPrompt: boolean;
  /** Own `depends on` lines AND-ed with every enclosing `if` block and `menu ... depends on`, and for symbols inside a `choice` the choice's dependencies. */
  dependsOn: Expr | undefined;
  /** Condition on the prompt (`bool "x" if COND`, and `visible if` of enclosing menus). */
  promptIf: Expr | undefined;
  defaults: { value: Expr; cond: Expr | undefined }[];
  selects: { target: string; cond: Expr | undefined }[];
  implies: { target: string; cond: Expr | undefined }[];
  /** Set when the symbol is a member of a `choice` block: an id for that choice and its prompt text. */
  choice: { id: string; prompt: string | undefined } | undefined;
  file: string;
  line: number;
}

export interface SelectedBy {
  by: string;
  cond: Expr | undefined;
  file: string;
  line: number;
}

export interface KconfigTree {
  symbols: Map<string, SymbolDefinition[]>;
  selectedBy: Map<string, SelectedBy[]>;
  impliedBy: Map<string, SelectedBy[]>;
  /** Files that could not be sourced, and statements that could not be parsed. */
  warnings: string[];
}

type SymbolType = SymbolDefinition["type"];

const TYPES = new Map<string, SymbolType>([
  ["bool", "bool"],
  ["boolean", "bool"], // 3.0-era spelling
  ["tristate", "tristate"],
  ["string", "string"],
  ["int", "int"],
  ["hex", "hex"],
  ["def_bool", "bool"],
  ["def_tristate", "tristate"],
]);

interface ChoiceInfo {
  id: string;
  prompt: string | undefined;
  type: SymbolType;
}

/** An open `if`, `menu` or `choice` block; its condition applies to everything inside. */
interface Block {
  kind: "if" | "menu" | "choice";
  dep: Expr | undefined;
  visible: Expr | undefined;
  choice?: ChoiceInfo;
  file: string;
}

/** The statement whose attribute lines are being read. */
type Entry =
  | { kind: "config"; def: SymbolDefinition; ownDeps: Expr | undefined; enclosing: Expr | undefined }
  | { kind: "block"; block: Block }
  | { kind: "other" };

interface Macro {
  value: string;
  /** `=` macros expand at use, `:=` ones at definition. */
  recursive: boolean;
}

const ASSIGNMENT = /^\s*([A-Za-z0-9_-]+)\s*(:=|\+=|=)\s*(.*)$/;

class Reader {
  readonly tree: KconfigTree = { symbols: new Map(), selectedBy: new Map(), impliedBy: new Map(), warnings: [] };
  private readonly blocks: Block[] = [];
  private entry: Entry = { kind: "other" };
  private readonly macros = new Map<string, Macro>();
  private readonly env: Map<string, string>;

  constructor(
    private readonly root: string,
    env: Record<string, string>,
  ) {
    this.env = new Map(Object.entries(env));
  }

  /** Expands `$(var)` references; function calls like `$(cc-option,...)` stay as written. */
  private expandMacros(text: string, depth = 0): string {
    if (depth > 20 || !text.includes("$(")) return text;
    let out = "";
    let i = 0;
    while (i < text.length) {
      const start = text.indexOf("$(", i);
      if (start < 0) break;
      out += text.slice(i, start);
      let end = start + 2;
      for (let level = 1; end < text.length && level > 0; end++) {
        if (text[end] === "(") level++;
        else if (text[end] === ")") level--;
      }
      const ref = text.slice(start, end);
      out += this.expandReference(ref, depth);
      i = end;
    }
    return out + text.slice(i);
  }

  private expandReference(ref: string, depth: number): string {
    const name = ref.slice(2, -1);
    if (!/^[A-Za-z0-9_-]+$/.test(name)) return ref;
    const macro = this.macros.get(name);
    const value = macro
      ? macro.recursive
        ? this.expandMacros(macro.value, depth + 1)
        : macro.value
      : this.env.get(name);
    // A value still holding a function call cannot be computed here; the reference reads better.
    return value === undefined || value.includes("$(") ? ref : value;
  }

  /** 3.0-era trees write `$SRCARCH`; those come from the environment (`option env=`). */
  private expandEnvStyle(text: string): string {
    return text.replace(/\$([A-Za-z0-9_]+)/g, (whole, name: string) => this.env.get(name) ?? whole);
  }

  private expandTokens(tokens: Token[]): Token[] {
    return tokens.map((t) => (t.kind === "op" || !t.text.includes("$(") ? t : { ...t, text: this.expandMacros(t.text) }));
  }

  readFile(rel: string): void {
    const abs = path.join(this.root, rel);
    const lines = readFileSync(abs, "utf8").split("\n");
    const depth = this.blocks.length;
    for (let i = 0; i < lines.length; i++) {
      const lineNo = i + 1;
      let text = lines[i] as string;
      const start = text.trimStart();
      // A comment's trailing backslash is part of the comment, so it continues nothing.
      if (start === "" || start.startsWith("#")) continue;
      while (text.trimEnd().endsWith("\\") && i + 1 < lines.length) {
        text = text.trimEnd().slice(0, -1) + " " + (lines[++i] as string);
      }
      const assignment = ASSIGNMENT.exec(text);
      if (assignment) {
        this.closeEntry();
        this.defineMacro(assignment[1] as string, assignment[2] as string, assignment[3] as string);
        continue;
      }
      let tokens: Token[];
      try {
        tokens = this.expandTokens(tokenize(text));
      } catch (err) {
        this.tree.warnings.push(`${rel}:${lineNo}: ${(err as Error).message}`);
        continue;
      }
      const keyword = tokens[0];
      if (!keyword) continue;
      if (keyword.kind === "word" && (keyword.text === "help" || keyword.text === "---help---")) {
        i = skipHelp(lines, i + 1) - 1;
        continue;
      }
      try {
        this.statement(tokens, rel, lineNo);
      } catch (err) {
        this.tree.warnings.push(`${rel}:${lineNo}: ${(err as Error).message}`);
      }
    }
    this.closeEntry();
    if (this.blocks.length > depth) {
      this.tree.warnings.push(`${rel}: ${this.blocks.length - depth} unclosed if/menu/choice block(s) at end of file`);
      this.blocks.length = depth;
    }
  }

  private defineMacro(name: string, op: string, raw: string): void {
    const old = this.macros.get(name);
    if (op === "+=" && old) {
      const value = old.recursive ? `${old.value} ${raw}` : `${old.value} ${this.expandMacros(raw)}`;
      this.macros.set(name, { value, recursive: old.recursive });
    } else {
      const recursive = op === "=";
      this.macros.set(name, { value: recursive ? raw : this.expandMacros(raw), recursive });
    }
  }

  private statement(tokens: Token[], file: string, line: number): void {
    const head = tokens[0] as Token;
    const word = head.kind === "word" ? head.text : "";
    const arg = tokens[1];
    // parser.y takes a bare word wherever it takes a quoted prompt or path.
    const text = arg && arg.kind !== "op" && !(arg.kind === "word" && arg.text === "if") ? arg.text : undefined;
    const expr = (from: number): Expr => {
      const { expr: e, pos } = parseExprTokens(tokens, from);
      const extra = tokens[pos];
      if (extra) throw new Error(`unexpected '${extra.text}' after expression`);
      return e;
    };
    /** Parses `<expr> [if <cond>]` starting at tokens[from]. */
    const exprIf = (from: number): { value: Expr; cond: Expr | undefined } => {
      const { expr: value, pos } = parseExprTokens(tokens, from);
      const next = tokens[pos];
      if (!next) return { value, cond: undefined };
      if (next.kind === "word" && next.text === "if") return { value, cond: expr(pos + 1) };
      throw new Error(`unexpected '${next.text}' after expression`);
    };
    /** Parses `[if <cond>]` starting at tokens[from]. */
    const optionalIf = (from: number): Expr | undefined => {
      const t = tokens[from];
      if (!t) return undefined;
      if (t.kind === "word" && t.text === "if") return expr(from + 1);
      throw new Error(`expected 'if' but found '${t.text}'`);
    };

    switch (word) {
      case "config":
      case "menuconfig": {
        this.closeEntry();
        if (arg?.kind !== "word") throw new Error(`${word} without a symbol name`);
        this.openConfig(arg.text, file, line);
        return;
      }
      case "choice": {
        this.closeEntry();
        const id = arg?.kind === "word" ? arg.text : `${file}:${line}`;
        const block = this.openBlock("choice", file);
        block.choice = { id, prompt: undefined, type: undefined };
        this.entry = { kind: "block", block };
        return;
      }
      case "menu": {
        this.closeEntry();
        this.entry = { kind: "block", block: this.openBlock("menu", file) };
        return;
      }
      case "if": {
        this.closeEntry();
        this.openBlock("if", file).dep = expr(1);
        return;
      }
      case "endif":
      case "endmenu":
      case "endchoice": {
        this.closeEntry();
        this.closeBlock(word.slice(3) as Block["kind"], file);
        return;
      }
      case "comment":
      case "mainmenu": {
        this.closeEntry();
        this.entry = { kind: "other" };
        return;
      }
      case "source":
      case "osource":
      case "rsource":
      case "orsource": {
        this.closeEntry();
        if (text === undefined) throw new Error(`${word} without a path`);
        const relative = word === "rsource" || word === "orsource";
        const optional = word === "osource" || word === "orsource";
        const target = this.expandEnvStyle(text);
        this.source(relative ? path.posix.join(path.posix.dirname(file), target) : target, optional, file, line);
        return;
      }
    }

    // Everything else is an attribute of the current entry.
    const entry = this.entry;
    if (entry.kind === "other") return;
    const def = entry.kind === "config" ? entry.def : undefined;
    const block = entry.kind === "block" ? entry.block : undefined;
    const type = TYPES.get(word);
    if (type !== undefined) {
      if (word.startsWith("def_")) {
        def?.defaults.push(exprIf(1));
      } else if (text !== undefined) {
        this.setPrompt(text, optionalIf(2));
      }
      if (def) def.type = type;
      if (block?.choice) block.choice.type = type;
      return;
    }
    switch (word) {
      case "prompt":
        if (text === undefined) throw new Error("prompt without a text");
        this.setPrompt(text, optionalIf(2));
        return;
      case "depends":
      case "requires": {
        // `requires` is the 2.6-era spelling of `depends on`.
        const on = arg?.kind === "word" && arg.text === "on" ? 2 : 1;
        const dep = expr(on);
        if (entry.kind === "config") entry.ownDeps = and(entry.ownDeps, dep);
        else entry.block.dep = and(entry.block.dep, dep);
        return;
      }
      case "visible":
        if (block && arg?.kind === "word" && arg.text === "if") block.visible = and(block.visible, expr(2));
        return;
      case "default":
        def?.defaults.push(exprIf(1));
        return;
      case "select":
      case "enable": // 2.6-era spelling of select
      case "imply": {
        if (!def) return;
        if (arg?.kind !== "word") throw new Error(`${word} without a symbol name`);
        const cond = optionalIf(2);
        const selects = word !== "imply";
        (selects ? def.selects : def.implies).push({ target: arg.text, cond });
        const reverse = selects ? this.tree.selectedBy : this.tree.impliedBy;
        push(reverse, arg.text, { by: def.name, cond, file, line });
        return;
      }
      // range, option, modules, optional, transitional and the like do not affect why a value lands.
    }
  }

  private setPrompt(text: string, cond: Expr | undefined): void {
    if (this.entry.kind === "config") {
      this.entry.def.hasPrompt = true;
      this.entry.def.promptIf = and(this.visibility(), cond);
    } else if (this.entry.kind === "block" && this.entry.block.choice) {
      this.entry.block.choice.prompt = text;
    }
  }

  private visibility(): Expr | undefined {
    return this.blocks.reduce<Expr | undefined>((acc, b) => and(acc, b.visible), undefined);
  }

  private openConfig(name: string, file: string, line: number): void {
    const enclosing = this.blocks.reduce<Expr | undefined>((acc, b) => and(acc, b.dep), undefined);
    const owner = [...this.blocks].reverse().find((b) => b.kind !== "if");
    const choice = owner?.choice;
    const def: SymbolDefinition = {
      name,
      type: choice?.type,
      hasPrompt: false,
      dependsOn: undefined,
      promptIf: undefined,
      defaults: [],
      selects: [],
      implies: [],
      choice: choice ? { id: choice.id, prompt: choice.prompt } : undefined,
      file,
      line,
    };
    push(this.tree.symbols, name, def);
    this.entry = { kind: "config", def, ownDeps: undefined, enclosing };
  }

  private closeEntry(): void {
    if (this.entry.kind === "config") this.entry.def.dependsOn = and(this.entry.enclosing, this.entry.ownDeps);
    this.entry = { kind: "other" };
  }

  private openBlock(kind: Block["kind"], file: string): Block {
    const block: Block = { kind, dep: undefined, visible: undefined, file };
    this.blocks.push(block);
    return block;
  }

  private closeBlock(kind: Block["kind"], file: string): void {
    const top = this.blocks[this.blocks.length - 1];
    if (!top || top.kind !== kind) throw new Error(`end${kind} without matching ${kind}`);
    if (top.file !== file) this.tree.warnings.push(`${file}: end${kind} closes a block opened in ${top.file}`);
    this.blocks.pop();
  }

  private source(target: string, optional: boolean, from: string, line: number): void {
    try {
      this.readFile(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      if (!optional) this.tree.warnings.push(`${from}:${line}: cannot source "${target}": file not found`);
    }
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Width of the leading blanks (tabs to the next multiple of 8), or -1 for a blank line. */
function indentWidth(line: string): number {
  let ts = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 9) ts = (ts & ~7) + 8;
    else if (c === 32) ts++;
    else if (c !== 13) return ts;
  }
  return -1;
}

/** Index of the first line after a help block starting at `start` (rules from lexer.l). */
function skipHelp(lines: string[], start: number): number {
  let first = 0;
  let i = start;
  for (; i < lines.length; i++) {
    const ts = indentWidth(lines[i] as string);
    if (ts < 0) continue;
    if (ts === 0 || (first > 0 && ts < first)) break;
    if (first === 0) first = ts;
  }
  return i;
}

/** Reads `<root>/Kconfig` and everything it sources, as `make ARCH=... config` would see it. */
export async function readKconfigTree(
  root: string,
  env: { ARCH: string; SRCARCH: string } & Record<string, string>,
): Promise<KconfigTree> {
  if (!existsSync(path.join(root, "Kconfig"))) {
    throw new InputError(`${root} is not a kernel source tree: it has no top-level Kconfig`);
  }
  const reader = new Reader(root, env);
  reader.readFile("Kconfig");
  return reader.tree;
}

export function allSymbolNames(tree: KconfigTree): string[] {
  return [...tree.symbols.keys()].sort();
}
