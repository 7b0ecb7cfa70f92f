/** Helpers for tests of kiln's Kconfig reader. */
import { formatExpr } from "../../src/kconfig/expr.js";
import type { KconfigTree, SymbolDefinition } from "../../src/kconfig/tree.js";

export const ARM = { ARCH: "arm", SRCARCH: "arm" };

export function only(tree: KconfigTree, name: string): SymbolDefinition {
  const defs = tree.symbols.get(name);
  if (defs?.length !== 1) throw new Error(`expected one definition of ${name}, got ${defs?.length ?? 0}`);
  return defs[0] as SymbolDefinition;
}

export const deps = (tree: KconfigTree, name: string): string | undefined => {
  const d = only(tree, name).dependsOn;
  return d && formatExpr(d);
};
