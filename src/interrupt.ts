/**
 * Work that must not be left halfway by kiln (a board writing its flash):
 * while any such section runs, the first Ctrl-C only says so and is remembered,
 * a second one leaves (exit 130) with the warning. Sections of several boards
 * (a fleet run) share the one handler.
 */
const active = new Map<number, string>();
let next = 0;
let presses = 0;
let ever = false;

function onSigint(): void {
  presses += 1;
  ever = true;
  const what = [...active.values()];
  if (presses === 1) {
    process.stderr.write(`\nkiln: interrupt: ${what.join("; ")}\n`);
    return;
  }
  process.stderr.write(`\nkiln: left while ${what.length === 1 ? "a board was" : `${what.length} boards were`} writing flash: do not power ${what.length === 1 ? "it" : "them"} off until flashcfg has finished\n`);
  process.exit(130);
}

/** Run `fn` with Ctrl-C deferred; `interrupted` tells whether it was pressed meanwhile. */
export async function whileCritical<T>(why: string, fn: () => Promise<T>): Promise<{ value: T; interrupted: boolean }> {
  const id = next++;
  if (active.size === 0) {
    presses = 0;
    process.on("SIGINT", onSigint);
  }
  active.set(id, why);
  try {
    const value = await fn();
    return { value, interrupted: presses > 0 };
  } finally {
    active.delete(id);
    if (active.size === 0) process.off("SIGINT", onSigint);
  }
}

/** Ctrl-C was pressed during some section of this run: start nothing new (the next board of a fleet). */
export function interruptRequested(): boolean {
  return ever;
}
