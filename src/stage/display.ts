/**
 * How a build shows itself while it runs. On a terminal, listr2 draws one row
 * per stage with a spinner, what runs now and the elapsed time; elsewhere (CI
 * logs, pipes) plain lines, at most one progress line every 20 seconds unless
 * the step changes; with --json nothing at all.
 */
import { createRequire } from "node:module";
import type { Listr as ListrClass } from "listr2";
import type { StageOutcome } from "./contract.js";

export interface Row {
  status(text: string): void;
  done(outcome: StageOutcome): void;
  fail(err: unknown): void;
}

export interface Display {
  start(stage: string, title: string): Row;
  /** Wait for the display to finish drawing (before printing anything else). */
  settle(): Promise<void>;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - m * 60)).padStart(2, "0")} s`;
}

export function describeOutcome(o: StageOutcome): string {
  if (o.how === "up to date") return "up to date, skipped";
  // why says why the stage had to run here ("never built"), not why the cache had it: kept apart from "taken from".
  if (o.how === "cache") return `taken from the cache of earlier builds in ${formatSeconds(o.seconds)} (not up to date here: ${o.why.join(", ")})`;
  return `built in ${formatSeconds(o.seconds)} (${o.why.join(", ")})`;
}

export const silentDisplay: Display = {
  start: () => ({ status: () => undefined, done: () => undefined, fail: () => undefined }),
  settle: async () => undefined,
};

/** The shape of a status line without its numbers: a new shape is a new step, shown at once. */
function shape(text: string): string {
  return text.split(/\d/)[0] ?? text;
}

export function plainDisplay(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`), everyMs = 20_000): Display {
  return {
    start(stage, title) {
      const t0 = Date.now();
      let last = { at: 0, shape: "" };
      write(`${stage}: ${title}`);
      return {
        status(text) {
          const now = Date.now();
          if (shape(text) === last.shape && now - last.at < everyMs) return;
          last = { at: now, shape: shape(text) };
          write(`${stage}: ${text} [${formatSeconds((now - t0) / 1000)}]`);
        },
        done: (o) => write(`${stage}: ${describeOutcome(o)}`),
        fail: () => write(`${stage}: failed after ${formatSeconds((Date.now() - t0) / 1000)}`),
      };
    },
    settle: async () => undefined,
  };
}

export function terminalDisplay(): Display {
  let pending: Promise<unknown> = Promise.resolve();
  return {
    start(stage, title) {
      let settle: { ok: (o: StageOutcome) => void; ko: (e: unknown) => void } | undefined;
      const outcome = new Promise<StageOutcome>((ok, ko) => (settle = { ok, ko }));
      let output: ((t: string) => void) | undefined;
      let latest = "";
      const t0 = Date.now();
      const { Listr } = createRequire(import.meta.url)("listr2") as { Listr: typeof ListrClass };
      const list = new Listr(
        [
          {
            title: `${stage}: ${title}`,
            task: async (_ctx, task) => {
              output = (t) => (task.output = t);
              const timer = setInterval(() => (task.output = `${latest} [${formatSeconds((Date.now() - t0) / 1000)}]`), 1000);
              try {
                const o = await outcome;
                task.title = `${stage}: ${describeOutcome(o)}`;
              } finally {
                clearInterval(timer);
              }
            },
          },
        ],
        { renderer: "default", rendererOptions: { collapseErrors: false, showErrorMessage: false }, exitOnError: true },
      );
      pending = pending.then(() => list.run().catch(() => undefined));
      return {
        status(text) {
          latest = text;
          output?.(`${text} [${formatSeconds((Date.now() - t0) / 1000)}]`);
        },
        done: (o) => settle?.ok(o),
        fail: (e) => settle?.ko(e),
      };
    },
    settle: () => pending.then(() => undefined),
  };
}

/** The display for this process: nothing with --json, listr2 on a terminal, plain lines otherwise. */
export function displayFor(quiet: boolean): Display {
  if (quiet) return silentDisplay;
  // A terminal that reports no width (a bare pty) would get listr2's rows one character per line.
  return process.stdout.isTTY && (process.stdout.columns ?? 0) >= 40 ? terminalDisplay() : plainDisplay();
}
